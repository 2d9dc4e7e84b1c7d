"""Head office's relay: the meeting place of HO and its sites (docs/relay.md).

Sites upload their tills' journal records (UPLOADED); HO processing verifies
and consolidates them (PROCESSED or QUARANTINED); the gateway reads those
acknowledgements back. Modules: config (what a relay is started with), schema
(tables and migrations), store (the one interface), sqlite_store and
postgres_store (its two databases), ids and auth (who may do what), ingest
(parsing an uploaded batch), consolidate and processing (HO's work on
records), app (the HTTP API).
"""
