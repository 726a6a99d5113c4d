"""Users of the admin UI: argon2id hashes (old scrypt ones upgraded at sign-in), clear Spanish errors, one message for every failed sign-in."""

import pytest
from sqlalchemy import select

from connector import services
from connector.errors import ConfigurationError
from connector.models import User, utcnow
from connector.services import NotFoundLocally
from connector.users import AuthenticationFailed, authenticate, create_user, set_password, set_user_locale


@pytest.fixture
def account(ctx):
    return services.create_account(ctx, "Tienda Usuarios").id


def test_create_and_authenticate(ctx, account):
    user = create_user(ctx, account, "  Yo@Tienda.CO ", "una-clave-segura")
    assert user.email == "yo@tienda.co" and user.account_id == account and user.locale == "es"
    with ctx.db.session() as session:
        stored = session.scalar(select(User.password_hash).where(User.id == user.id))
    # argon2id at OWASP's parameters (19 MiB, 2 passes, 1 lane): the real work factor, not the tests' cheap one.
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and "una-clave-segura" not in stored
    signed_in = authenticate(ctx, "YO@tienda.co", "una-clave-segura")
    assert signed_in.id == user.id and signed_in.last_login_at is not None


@pytest.mark.parametrize("email, password, message", [
    ("no-es-correo", "una-clave-segura", "no es un e-mail válido"),
    ("a@b.co", "corta", "al menos 10 caracteres"),
    ("a@b.co", " " * 12, "solo espacios"),
    ("a@b.co", "x" * 201, "más de 200 caracteres"),
])
def test_bad_input_is_explained(ctx, account, email, password, message):
    with pytest.raises(ConfigurationError, match=message):
        create_user(ctx, account, email, password)


def test_emails_are_unique_and_accounts_must_exist(ctx, account):
    create_user(ctx, account, "dueño@tienda.co", "una-clave-segura")
    with pytest.raises(ConfigurationError, match="Ya existe un usuario con el e-mail dueño@tienda.co"):
        create_user(ctx, account, "DUEÑO@tienda.co", "otra-clave-segura")
    with pytest.raises(NotFoundLocally):
        create_user(ctx, "no existe", "otro@tienda.co", "una-clave-segura")


@pytest.mark.parametrize("email, password", [("yo@tienda.co", "clave-equivocada"), ("nadie@tienda.co", "una-clave-segura"),
                                             ("", ""), ("yo@tienda.co", "x" * 500)])
def test_every_failure_says_the_same(ctx, account, email, password):
    create_user(ctx, account, "yo@tienda.co", "una-clave-segura")
    with pytest.raises(AuthenticationFailed) as caught:
        authenticate(ctx, email, password)
    assert caught.value.user_message == "Correo o contraseña incorrectos."


def test_inactive_users_cannot_sign_in(ctx, account):
    user = create_user(ctx, account, "yo@tienda.co", "una-clave-segura")
    with ctx.db.transaction() as session:
        session.get(User, user.id).is_active = False
    with pytest.raises(AuthenticationFailed):
        authenticate(ctx, "yo@tienda.co", "una-clave-segura")


def test_password_and_locale_changes(ctx, account):
    user = create_user(ctx, account, "yo@tienda.co", "una-clave-segura")
    set_password(ctx, "yo@tienda.co", "la-clave-nueva-1")
    authenticate(ctx, "yo@tienda.co", "la-clave-nueva-1")
    with pytest.raises(AuthenticationFailed):
        authenticate(ctx, "yo@tienda.co", "una-clave-segura")
    set_user_locale(ctx, user.id, "en")
    assert authenticate(ctx, "yo@tienda.co", "la-clave-nueva-1").locale == "en"
    with pytest.raises(ConfigurationError):
        set_user_locale(ctx, user.id, "fr")


def test_an_old_scrypt_hash_still_signs_in_and_is_replaced_by_argon2id(ctx, account):
    from werkzeug.security import generate_password_hash

    user = create_user(ctx, account, "viejo@tienda.co", "una-clave-segura")
    old = generate_password_hash("una-clave-segura", method="scrypt:2048:8:1")  # what 0.x stored
    with ctx.db.transaction() as session:
        session.get(User, user.id).password_hash = old
    with pytest.raises(AuthenticationFailed):
        authenticate(ctx, "viejo@tienda.co", "otra-clave-mala")
    with ctx.db.session() as session:
        assert session.get(User, user.id).password_hash == old  # a failed sign-in changes nothing
    authenticate(ctx, "viejo@tienda.co", "una-clave-segura")
    with ctx.db.session() as session:
        upgraded = session.get(User, user.id).password_hash
    assert upgraded.startswith("$argon2id$") and upgraded != old
    authenticate(ctx, "viejo@tienda.co", "una-clave-segura")  # and the new hash works


def test_cli_password_reset_reads_stdin_and_ends_the_users_sessions(ctx, account, run_cli):
    from connector.user_sessions import SessionPolicy, resume_session, start_session

    user = create_user(ctx, account, "yo@tienda.co", "una-clave-segura")
    token = start_session(ctx, user.id, utcnow())
    code, out, err = run_cli("user", "password", "yo@tienda.co", "--password-stdin", stdin="la-clave-nueva-1\n")
    assert code == 0 and "Contraseña actualizada para yo@tienda.co" in out and err == ""
    authenticate(ctx, "yo@tienda.co", "la-clave-nueva-1")
    assert resume_session(ctx, token, utcnow(), SessionPolicy.from_settings(ctx.settings)) is None


def test_cli_password_reset_of_an_unknown_email_is_one_line_and_exit_2(ctx, account, run_cli):
    code, out, err = run_cli("user", "password", "nadie@tienda.co", "--password-stdin", stdin="la-clave-nueva-1\n")
    assert code == 2 and out == ""
    assert err == "error: No existe un usuario con el e-mail nadie@tienda.co.\n"


def test_cli_password_reset_never_takes_the_password_from_argv(ctx, account, run_cli):
    create_user(ctx, account, "yo@tienda.co", "una-clave-segura")
    with pytest.raises(SystemExit) as refused:  # argparse: unknown option, exit 2 with its usage line
        run_cli("user", "password", "yo@tienda.co", "--password", "la-clave-nueva-1")
    assert refused.value.code == 2
    authenticate(ctx, "yo@tienda.co", "una-clave-segura")
