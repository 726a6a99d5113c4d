"""Settings carry a version: a save over a version that is no longer current changes nothing."""

import threading

import pytest

from connector import services


def test_a_save_at_an_old_version_is_refused_and_changes_nothing(ctx, seller):
    version = services.settings_version(ctx, seller)
    services.update_settings(ctx, seller, ["default_phone=3001111111"], expected_version=version)
    with pytest.raises(services.StaleSettings, match="Alguien cambió esta configuración"):
        services.update_settings(ctx, seller, ["default_phone=3002222222"], expected_version=version)
    assert services.show_settings(ctx, seller).default_phone == "3001111111"
    # A save without a version (the CLI's «rules set») still moves the version on for open forms.
    newer = services.settings_version(ctx, seller)
    services.update_settings(ctx, seller, ["default_phone=3003333333"])
    assert services.settings_version(ctx, seller) != newer


def test_a_channel_version_includes_the_account_settings_it_inherits(ctx, seller):
    [channel] = services.list_channel_connections(ctx, seller)
    version = services.settings_version(ctx, seller, channel.id)
    services.update_settings(ctx, seller, ["invoice_fulfillment=true"])  # the account's settings
    with pytest.raises(services.StaleSettings):
        services.update_settings(ctx, seller, ["enabled=true"], channel_ref=channel.id, expected_version=version)
    fresh = services.settings_version(ctx, seller, channel.id)
    services.update_settings(ctx, seller, ["enabled=false"], channel_ref=channel.id, expected_version=fresh)
    assert services.show_settings(ctx, seller, channel.id).enabled is False


def test_concurrent_saves_of_one_version_let_exactly_one_through(ctx, seller):
    version = services.settings_version(ctx, seller)
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def save(number: int) -> None:
        start.wait()
        try:
            services.update_settings(ctx, seller, [f"default_phone=30000000{number}"], expected_version=version)
        except services.StaleSettings:
            outcomes.append("stale")
        else:
            outcomes.append(f"30000000{number}")

    threads = [threading.Thread(target=save, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    [winner] = [o for o in outcomes if o != "stale"]
    assert outcomes.count("stale") == 5 and services.show_settings(ctx, seller).default_phone == winner
