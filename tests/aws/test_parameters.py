"""SSM SecureStrings for webhook URLs: stored encrypted, read back, never in a DEBUG log."""

from __future__ import annotations

import logging

import pytest

from paas.domain.errors import PaasError, UserError


def test_a_webhook_url_round_trips_and_never_reaches_a_log(aws_env, driver, uid, caplog):
    caplog.set_level(logging.DEBUG)
    name = f"/paas/notify/app{uid}/t/url"
    url = f"https://hooks.example.com/services/T0/B0/tok{uid}en"
    assert driver.put_parameter(name, url) == 1
    assert driver.get_parameter(name) == url
    assert driver.put_parameter(name, url + "2", overwrite=True) == 2
    assert driver.get_parameter(name) == url + "2"
    assert f"tok{uid}en" not in caplog.text  # botocore logged the calls at DEBUG, not the value
    assert "PutParameter" in caplog.text or "ssm" in caplog.text  # (so the check above can fail)
    p = aws_env.client("ssm").get_parameter(Name=name)["Parameter"]
    assert p["Type"] == "SecureString"

    driver.delete_parameters([name])
    with pytest.raises(PaasError, match="does not exist"):
        driver.get_parameter(name)


@pytest.mark.parametrize("name", ["paas/notify/x", "/paas//x", "/paas/x/", "/aws/x", "/paas/x y", "/" + "a" * 1100,
                                  "/" + "/".join("a" * 16)])
def test_bad_parameter_names_are_refused_before_sending(driver, name):
    with pytest.raises(UserError):
        driver.put_parameter(name, "v")


def test_values_over_the_standard_tier_limit_are_refused(driver, uid):
    with pytest.raises(UserError, match="4096"):
        driver.put_parameter(f"/paas/notify/app{uid}/t/url", "x" * 4097)
