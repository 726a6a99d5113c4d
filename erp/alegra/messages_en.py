"""English texts of what Alegra declares (its connect form, setup help and its countries' code lists),
keyed by the Spanish original; the panel merges them into its catalog (``admin_ui.i18n``)."""

MESSAGES: dict[str, str] = {
    # -- the connect form
    "Correo del usuario de Alegra": "Alegra user's e-mail",
    "El correo con el que entras a Alegra.": "The e-mail you sign in to Alegra with.",
    "En Alegra: Configuración › Integraciones › API.": "In Alegra: Configuración › Integraciones › API.",
    "El país de tu cuenta de Alegra.": "The country of your Alegra account.",
    "En Alegra: Configuración › Integraciones › API. Ahí están el correo del usuario que usa la API y su token "
    "(puedes generar uno nuevo). El país es el de tu cuenta de Alegra: define los tipos de documento, regímenes "
    "y formas de pago de tus facturas.":
        "In Alegra: Configuración › Integraciones › API. The e-mail of the user the API acts as and its token "
        "are there (you can generate a new one). The country is your Alegra account's: it sets the document "
        "types, regimes and payment forms of your invoices.",
    # -- countries
    "Colombia": "Colombia", "México": "Mexico", "Perú": "Peru", "Panamá": "Panama", "Costa Rica": "Costa Rica",
    "Argentina": "Argentina", "República Dominicana": "Dominican Republic", "Chile": "Chile",
    # -- identification types
    "Número único de identificación personal": "Unique personal identification number (NUIP)",
    "DNI": "DNI (national id)", "RUC": "RUC (taxpayer id)", "RFC": "RFC (taxpayer id)",
    "Carné de extranjería": "Foreigner's card", "Otro / sin documento": "Other / no document",
    "Identificación fiscal extranjera": "Foreign tax id", "Identificación extranjera": "Foreign id",
    "Cédula de identidad personal": "Personal id card (cédula)", "Documento de identidad": "Identity document",
    "Identificación tributaria": "Tax id",
    # -- person kinds, receiver types
    "Persona física": "Natural person", "Persona moral": "Legal entity", "Natural": "Natural person",
    "Jurídico": "Legal entity", "Contribuyente": "Taxpayer", "No contribuyente": "Non-taxpayer",
    "Gobierno": "Government", "Extranjero": "Foreign", "Tipo de receptor": "Receiver type",
    "Contribuyente, consumidor final, gobierno o extranjero (DGI).":
        "Taxpayer, final consumer, government or foreign (DGI).",
    "Consumidor final": "Final consumer", "Clientes varios": "Various customers", "Público en general": "General public",
    # -- regimes
    "Régimen general": "General regime", "Régimen MYPE tributario": "MYPE tax regime",
    "Régimen especial (RER)": "Special regime (RER)", "Nuevo RUS": "New RUS",
    "General de Ley Personas Morales": "General regime for legal entities",
    "Personas Morales con Fines no Lucrativos": "Non-profit legal entities", "Sueldos y Salarios": "Wages and salaries",
    "Arrendamiento": "Leasing",
    "Personas Físicas con Actividades Empresariales y Profesionales":
        "Natural persons with business and professional activities",
    "Sin obligaciones fiscales": "No tax obligations", "Incorporación Fiscal": "Tax incorporation",
    "Actividades Empresariales con ingresos a través de Plataformas Tecnológicas":
        "Business activities with income through technology platforms",
    "Régimen Simplificado de Confianza": "Simplified trust regime",
    # -- uso CFDI
    "Uso CFDI": "CFDI use", "Adquisición de mercancías": "Purchase of goods", "Gastos en general": "General expenses",
    "Construcciones": "Construction", "Sin efectos fiscales": "No tax effects", "Pagos": "Payments",
    "El uso que el comprador dará a la factura (catálogo c_UsoCFDI del SAT).":
        "What the buyer will use the invoice for (SAT's c_UsoCFDI catalog).",
    # -- payment forms and methods
    "Pago en una sola exhibición": "Single payment", "Pago en parcialidades o diferido": "Installments or deferred",
    "Cheque nominativo": "Nominative check", "Transferencia electrónica": "Electronic transfer",
    "Tarjeta de débito": "Debit card", "Por definir": "To be defined",
    # -- credit-note types
    "Anulación de factura electrónica": "Electronic invoice voided",
    "Devolución parcial de los bienes": "Partial return of the goods",
    "Rebaja o descuento parcial o total": "Partial or total discount", "Ajuste de precio": "Price adjustment",
    "Otros": "Others", "Anulación de la operación": "Operation voided", "Devolución total": "Full return",
    "Devolución por ítem": "Return by item", "Descuento global": "Global discount",
    "Descuento por ítem": "Discount by item", "Disminución en el valor": "Decrease in value",
    "Otros conceptos": "Other concepts", "Anulación de la factura": "Invoice voided",
    "Devolución parcial": "Partial return", "Descuento o rebaja": "Discount or reduction",
    "Nota de crédito de los documentos relacionados": "Credit note of the related documents",
    "Devolución de mercancía": "Return of goods", "Cancelación (sustitución) del CFDI": "CFDI cancelled (replaced)",
}
