"""hub-alertmanager: Prometheus Alertmanager's webhook (version 4) as a hub source."""
