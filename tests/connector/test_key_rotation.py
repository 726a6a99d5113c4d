"""Retiring a key: ``check`` says what each key still protects, ``rotate`` moves everything to the first."""

from __future__ import annotations

from cryptography.fernet import Fernet

from connector import services
from connector.crypto import CredentialVault
from connector.key_rotation import check_keys, rotate_keys
from connector.models import ChannelConnection, ERPConnection, OAuthState

OLD, NEW, LOST = (Fernet.generate_key().decode() for _ in range(3))
SECRETS = {"token": "alegra-token-0123456789", "refresh_token": "TG-0123456789abcdef", "client_secret": "cs-abcdef0123"}


def _store_under(ctx, key: str) -> dict[str, int]:
    """An ERP connection, a channel connection and an OAuth state sealed under ``key``."""
    vault = CredentialVault([key])
    account = services.create_account(ctx, f"Tienda {key[:6]}").id
    with ctx.db.transaction() as session:
        erp = ERPConnection(account_id=account, kind="alegra", name="e", settings={},
                            credentials_encrypted=vault.encrypt({"token": SECRETS["token"]}))
        channel = ChannelConnection(account_id=account, kind="shopify", name="c", settings_overrides={},
                                    remote_account_id=f"shop-{key[:8]}",
                                    credentials_encrypted=vault.encrypt({"refresh_token": SECRETS["refresh_token"]}))
        state = OAuthState(state=f"st-{key[:8]}", account_id=account, channel_kind="mercadolibre",
                           payload={"form": {"site_id": "MCO"},
                                    "sealed": vault.encrypt({"client_secret": SECRETS["client_secret"]})})
        session.add_all([erp, channel, state])
        session.flush()
        return {"erp": erp.id, "channel": channel.id, "state": state.id}


def test_rotate_moves_every_stored_secret_to_the_first_key_so_the_old_one_can_go(ctx):
    ids = _store_under(ctx, OLD)
    ctx.vault = CredentialVault([NEW, OLD])
    before = check_keys(ctx)
    assert (before.by_position[0], before.by_position[1], before.unreadable) == (0, 3, [])

    report = rotate_keys(ctx)
    assert (report.rotated, report.already_current, report.unreadable) == (3, 0, [])
    after = check_keys(ctx)
    assert (after.by_position[0], after.by_position[1]) == (3, 0)
    assert rotate_keys(ctx).rotated == 0  # nothing left to do

    retired = CredentialVault([NEW])  # the old key removed: everything still opens
    with ctx.db.session() as session:
        assert retired.decrypt(session.get(ERPConnection, ids["erp"]).credentials_encrypted)["token"] == SECRETS["token"]
        channel = session.get(ChannelConnection, ids["channel"])
        assert retired.decrypt(channel.credentials_encrypted)["refresh_token"] == SECRETS["refresh_token"]
        state = session.get(OAuthState, ids["state"])
        assert retired.decrypt(state.payload["sealed"]) == {"client_secret": SECRETS["client_secret"]}
        assert state.payload["form"] == {"site_id": "MCO"}


def test_rows_no_key_opens_are_reported_and_left_alone(ctx):
    _store_under(ctx, OLD)
    lost = _store_under(ctx, LOST)
    ctx.vault = CredentialVault([NEW, OLD])
    usage = check_keys(ctx)
    assert sorted(usage.unreadable) == sorted([f"erp_connections:{lost['erp']}",
                                               f"channel_connections:{lost['channel']}",
                                               f"oauth_states:{lost['state']}"])
    with ctx.db.session() as session:
        before = session.get(ERPConnection, lost["erp"]).credentials_encrypted
    report = rotate_keys(ctx)
    assert report.rotated == 3 and len(report.unreadable) == 3
    with ctx.db.session() as session:
        assert session.get(ERPConnection, lost["erp"]).credentials_encrypted == before
