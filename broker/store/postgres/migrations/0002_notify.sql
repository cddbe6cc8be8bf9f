-- Replicas keep the signing keys, the connectors changed through the admin
-- API and (for a second) clients in memory. These triggers NOTIFY the
-- channel portico_sync with "<schema>/<table>" when one changes, so that every replica listening
-- reloads at once instead of at its next poll (ops.sync_interval). A
-- notification is sent at commit, and only if the transaction commits.
--
-- Records of other kinds (sessions, throttle counters) change on hot paths
-- and need no reload: the WHEN clauses keep them out, without calling the
-- function. 'connector' is the admin API's record kind
-- (admin.ConnectorRecordKind).
CREATE FUNCTION portico_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('portico_sync', TG_TABLE_SCHEMA || '/' || TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER signing_keys_notify AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION portico_notify();
CREATE TRIGGER clients_notify AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION portico_notify();
CREATE TRIGGER records_notify_write AFTER INSERT OR UPDATE ON records
    FOR EACH ROW WHEN (NEW.kind = 'connector'::bytea) EXECUTE FUNCTION portico_notify();
CREATE TRIGGER records_notify_delete AFTER DELETE ON records
    FOR EACH ROW WHEN (OLD.kind = 'connector'::bytea) EXECUTE FUNCTION portico_notify();
