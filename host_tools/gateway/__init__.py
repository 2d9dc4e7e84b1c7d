"""The store's gateway between the tills (serial link) and HO's relay (HTTP):
`kassa gateway sync` and `kassa gateway status` (docs/gateway.md).

  config        the TOML configuration file
  tillport      the gateway's view of a till (link_client opens one on a port)
  records       what the gateway checks of a till's records
  outbox        the durable SQLite outbox: records, till state, step statuses
  relay_client  HO's relay API over httpx
  backoff       retries with exponential backoff and jitter
  schedule      `--every`: the interval and the next start
  sync          one run: every till, each step with its status
"""
