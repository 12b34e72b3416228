-- What `wallet migrate` needs inside the database (service/cli/migrate.py). Owner only.

-- A trigger, created or changed only when it is missing or different: an unchanged trigger costs
-- no lock at all. CREATE OR REPLACE TRIGGER takes SHARE ROW EXCLUSIVE on its table, which stops
-- every posting, and a constraint trigger can only be dropped (ACCESS EXCLUSIVE, which also waits
-- for every reader) and created again; re-running them on each deploy made a deploy wait behind
-- any open reader of the ledger with the postings queued behind it.
--
-- p_definition is the trigger exactly as pg_get_triggerdef prints it (one line, events in the
-- order INSERT, DELETE, UPDATE, TRUNCATE, names qualified), which is what it is compared with;
-- a definition written otherwise is refused, with the form to write in the HINT, because it
-- would never compare equal and so be re-created on every apply. A plain trigger is replaced in
-- place (CREATE OR REPLACE); a constraint trigger, or a change between the two kinds, is dropped
-- and created again. A trigger disabled by hand (ALTER TABLE ... DISABLE TRIGGER) counts as
-- different and is made again, enabled.
CREATE OR REPLACE FUNCTION deploy.ensure_trigger(p_definition text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name       text := substring(p_definition FROM '^CREATE (?:CONSTRAINT )?TRIGGER (\S+) ');
    v_table_name text := substring(p_definition FROM ' ON (\S+) ');
    v_table      regclass;
    v_current    text;
    v_enabled    "char";
    v_constraint boolean;
    v_done       text;
BEGIN
    IF v_name IS NULL OR v_table_name IS NULL THEN
        RAISE EXCEPTION 'not a trigger definition: %', left(p_definition, 200)
            USING HINT = 'write it as pg_get_triggerdef prints it: CREATE [CONSTRAINT] TRIGGER name ... ON schema.table ...';
    END IF;
    -- the cast looks the table up without locking it
    v_table := v_table_name::regclass;
    v_name := (parse_ident(v_name))[1];
    SELECT pg_get_triggerdef(t.oid), t.tgenabled, t.tgconstraint <> 0
    INTO v_current, v_enabled, v_constraint
    FROM pg_trigger AS t
    WHERE t.tgrelid = v_table AND t.tgname = v_name AND NOT t.tgisinternal;

    IF v_current = p_definition AND v_enabled = 'O' THEN
        RETURN 'unchanged';
    ELSIF v_current IS NULL THEN
        EXECUTE p_definition;
        v_done := 'created';
    ELSIF v_constraint OR p_definition LIKE 'CREATE CONSTRAINT %' THEN
        EXECUTE format('DROP TRIGGER %I ON %s', v_name, v_table);
        EXECUTE p_definition;
        v_done := 'dropped and created again';
    ELSE
        EXECUTE 'CREATE OR REPLACE ' || substr(p_definition, length('CREATE ') + 1);
        v_done := 'replaced';
    END IF;

    SELECT pg_get_triggerdef(t.oid) INTO v_current
    FROM pg_trigger AS t
    WHERE t.tgrelid = v_table AND t.tgname = v_name AND NOT t.tgisinternal;
    IF v_current IS DISTINCT FROM p_definition THEN
        RAISE EXCEPTION 'trigger % on % is not written as PostgreSQL prints it', v_name, v_table
            USING DETAIL = format('written: %s', p_definition),
                  HINT = format('write it as: %s', v_current);
    END IF;
    RAISE NOTICE 'trigger % on % %', v_name, v_table, v_done;
    RETURN v_done;
END
$$;
COMMENT ON FUNCTION deploy.ensure_trigger(text) IS
    'Creates the trigger given as pg_get_triggerdef prints it, or changes it, only when it is missing, different or disabled; returns unchanged, created, replaced or dropped and created again. An unchanged trigger takes no lock. A definition not in pg_get_triggerdef''s form is refused with that form in the HINT.';
REVOKE ALL ON FUNCTION deploy.ensure_trigger(text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
