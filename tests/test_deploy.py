"""The deployment files agree with the code: every variable they set is one the bot reads,
the health checks name real endpoints, nginx sends the webhook path to every replica."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.settings import DEFAULTS
from bot.webhook import READY_PATH

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_compose_has_the_database_the_replicas_the_trainer_and_the_proxy() -> None:
    services = COMPOSE["services"]
    assert {"postgres", "bot-1", "bot-2", "trainer", "proxy"} <= set(services)
    replicas = [
        name
        for name, s in services.items()
        if s.get("environment", {}).get("BOT_ROLE") == "replica"
    ]
    assert sorted(replicas) == ["bot-1", "bot-2"]
    assert services["trainer"]["environment"]["BOT_ROLE"] == "trainer"
    for name in ("bot-1", "bot-2", "trainer"):
        service = services[name]
        assert set(service["environment"]) <= set(DEFAULTS), name  # only variables we read
        assert service["environment"]["REPLICAS"] == str(len(replicas))
        assert "models:/app/var/models" in service["volumes"]  # one registry for all
        assert service["healthcheck"]["test"]
    assert READY_PATH in " ".join(services["bot-1"]["healthcheck"]["test"])


def test_nginx_balances_the_webhook_over_every_replica_and_retries_the_next() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    found = re.search(r"upstream bots \{(.*?)\}", conf, re.S)
    assert found is not None, "nginx.conf has no upstream bots block"
    upstream = found.group(1)
    assert sorted(re.findall(r"server (bot-\d):8443", upstream)) == ["bot-1", "bot-2"]
    assert "proxy_next_upstream error timeout http_502 http_503" in conf
    path = COMPOSE["x-bot"]["environment"]["WEBHOOK_URL"]
    assert "/telegram" in path and "location /telegram" in conf
