"""Labels translated at run time, for ``pybabel extract``: the core's (``babel.cfg`` maps this file to
:func:`extract`) and the ones each adapter declares (:mod:`admin_ui.i18n_extract` adds them to the
adapter's own catalog).

Most panel texts are written inside ``_()`` and pybabel finds them there. These are not: they are
data — the settings forms' labels, the states and codes of stored rows, and the credential fields each
registered channel and ERP declares (a new adapter's fields join its catalog without anyone marking
them). Listing them here, from the same objects the panel reads, keeps the catalogs complete.
"""

from __future__ import annotations

from collections.abc import Iterator


def runtime_messages() -> list[str]:
    """The core's Spanish texts shown through ``gettext`` at run time (no adapter's: see
    :func:`declared_messages`)."""
    from admin_ui import ORDER_STATUS_LABELS, forms, i18n
    from admin_ui.blueprints.orders import FOLLOWUP_ACTIONS
    from admin_ui.blueprints.settings import TITLES
    from connector.refunds import STATE_LABELS as REFUND_STATE_LABELS
    from connector.states import STATE_LABELS

    messages: list[str] = []
    for field in (*forms.CONFIGURATION_FIELDS, *forms.AUTO_INVOICING_FIELDS):
        messages += [m for m in (field.label, field.help, field.empty, field.group) if m]
        if not isinstance(field.choices, str):
            messages += [label for _value, label in field.choices]
    messages += list(STATE_LABELS.values())
    for table in i18n.STORED_CODE_LABELS:
        messages += list(table.values())
    messages += list(ORDER_STATUS_LABELS.values()) + list(TITLES.values())
    messages += list(FOLLOWUP_ACTIONS.values()) + list(REFUND_STATE_LABELS.values())
    return list(dict.fromkeys(messages))


def declared_messages(package: str) -> list[str]:
    """The Spanish texts the channels and ERPs registered from ``package`` (``erp.<name>``) declare:
    their credential fields (labels, help, choices), a channel's OAuth form, an ERP's setup help and
    country profiles."""
    from channels.registry import CHANNELS, channel_class
    from connector.oauth import authorization_module
    from connector.plugins import package_of
    from erp.registry import ERPS, erp_class

    messages: list[str] = []
    for kind in (k for k, target in CHANNELS.items() if package_of(target) == package):
        fields = list(channel_class(kind).credential_fields)
        module = authorization_module(kind)
        if module is not None:
            fields += list(module.AUTHORIZATION_FIELDS)
            messages += [label for choices in getattr(module, "FIELD_CHOICES", {}).values() for _v, label in choices]
        messages += _field_texts(fields)
    for kind in (k for k, target in ERPS.items() if package_of(target) == package):
        cls = erp_class(kind)
        messages += _field_texts(cls.credential_fields) + _erp_declared_texts(cls)
    return list(dict.fromkeys(messages))


def _field_texts(fields) -> list[str]:
    return [m for f in fields for m in (f.label, f.help) if m] + [label for f in fields for _code, label in f.choices]


def _erp_declared_texts(cls) -> list[str]:
    """The texts an ERP declares besides its fields: setup help and every country profile's labels."""
    texts = [cls.setup_help]
    field = next((f for f in cls.credential_fields if f.name == cls.country_credential), None)
    for country in (field.choice_codes() if field is not None else (None,)):
        profile = cls.fiscal_profile(country)
        for name in ("identification_type", "kind_of_person", "regime", "payment_form", "payment_method",
                     "credit_note_type"):
            texts += [o.label for o in profile.options(name)]
        for contact_field in profile.contact_fields:
            texts += [m for m in (contact_field.label, contact_field.help) if m]
            texts += [o.label for o in contact_field.options]
    return texts


def extract(fileobj, keywords, comment_tags, options) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """A Babel extraction method (``(lineno, funcname, message, comments)`` tuples): the runtime labels,
    then this file's own ``_()`` calls (none today) as any Python file."""
    for message in runtime_messages():
        yield 0, None, message, ["runtime label"]
    from babel.messages.extract import extract_python

    yield from extract_python(fileobj, keywords, comment_tags, options)
