-- Batches (issue 17, migration 0014): up to 1,000 top-ups, bonuses or spends of one asset in one
-- call, for trusted jobs. Each item becomes a transaction of its own with the rows a single call
-- writes (the user's entry and a system slot's entry, posted_at, the wallet's version), sharing
-- the batch's id (ledger.transactions.batch_id).
--
-- Set-based, not one ledger._post per item: the per-call costs (the door, the key's claim, the
-- slot search, the commit) are paid once per batch, and the writes are one INSERT of the
-- transactions, one UPDATE of the users' wallets, one of the system slot and one INSERT of the
-- entries. No PL/pgSQL EXCEPTION block per item (each would be a subtransaction: past 64 in one
-- transaction PostgreSQL slows sharply): every item's fate is decided in memory, under the locks,
-- before anything is written. Lock order (db/CONVENTIONS.md): the batch's key, the user wallets in
-- (owner_id) byte order, each locked or created in its place, then one system slot, then the clock.

-- A batch's DETAIL when it is rejected whole: its failing items as a JSON array of
-- {"index", "code", "detail"} (index from 0, as the caller's list), for the HTTP problem's errors.
CREATE OR REPLACE FUNCTION ledger._batch_errors(p_codes text[], p_details text[])
RETURNS text
LANGUAGE sql IMMUTABLE
RETURN (SELECT jsonb_agg(jsonb_build_object('index', i - 1, 'code', p_codes[i], 'detail', p_details[i])
                         ORDER BY i)::text
        FROM generate_subscripts(p_codes, 1) AS i
        WHERE p_codes[i] IS NOT NULL);
COMMENT ON FUNCTION ledger._batch_errors(text[], text[]) IS
    'The failing items of a batch (p_codes[i] not NULL) as a JSON array of {index (from 0), code, detail}: the DETAIL of WBREJ.';
REVOKE ALL ON FUNCTION ledger._batch_errors(text[], text[]) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION api.post_batch(
    p_type ledger.transaction_type, p_asset_id text, p_user_ids text[], p_amounts numeric[],
    p_description text, p_idempotency_key text, p_atomic boolean DEFAULT true,
    p_metadata jsonb[] DEFAULT NULL, p_client_id text DEFAULT NULL)
RETURNS TABLE (batch_id bigint, item_index integer, user_id text, status text, transaction_id bigint,
               wallet_id bigint, balance numeric, code text, detail text, replayed boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_asset       ledger.assets;
    v_client      text := coalesce(p_client_id, 'sql:' || session_user);
    v_n           integer := coalesce(cardinality(p_user_ids), 0);
    v_credit      boolean := p_type IN ('topup', 'bonus');
    v_system      ledger.wallet_kind;
    v_meta        jsonb[];
    v_amount      numeric[];
    v_code        text[];
    v_detail      text[];
    v_wallet      bigint[];
    v_after       numeric[];
    v_version     bigint[];
    v_tx          bigint[];
    v_fingerprint text;
    v_batch       bigint;
    v_stored      ledger.batches;
    v_failed      integer := 0;
    v_total       numeric := 0;
    v_day         date;
    v_posted      timestamptz;
    v_slot        bigint;
    v_slot_balance numeric;
    v_slot_version bigint;
    u             record;
    w_id          bigint;
    w_balance     numeric;
    w_version     bigint;
    w_day         date;
    w_earned      numeric;
    w_spent       numeric;
    i             integer;
    v_run         numeric;
    v_ver         bigint;
    v_earned      numeric;
    v_spent       numeric;
    v_max         numeric;
    v_earn_limit  numeric;
    v_spend_limit numeric;
    v_wallet_id   bigint;
    v_resets      text;
    v_users       text[];
    v_one_lock    boolean;
    v_next        integer;
    v_l_owner     text[];
    v_l_id        bigint[];
    v_l_balance   numeric[];
    v_l_version   bigint[];
    v_l_day       date[];
    v_l_earned    numeric[];
    v_l_spent     numeric[];
    v_w_id        bigint[] := '{}';
    v_w_balance   numeric[] := '{}';
    v_w_version   bigint[] := '{}';
    v_w_day       date[] := '{}';
    v_w_earned    numeric[] := '{}';
    v_w_spent     numeric[] := '{}';
    w_created     boolean;
    v_unused      bigint[] := '{}';
BEGIN
    -- 1. The batch as a whole
    SELECT * INTO v_asset FROM ledger.assets AS a WHERE a.id = p_asset_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', coalesce(quote_literal(p_asset_id), 'NULL') USING ERRCODE = 'WASST';
    END IF;
    IF p_type IS NULL OR p_type NOT IN ('topup', 'bonus', 'spend') THEN
        RAISE EXCEPTION 'a batch is of top-ups, bonuses or spends, not %', coalesce(p_type::text, 'NULL')
            USING ERRCODE = 'WBATC';
    END IF;
    IF v_n < 1 OR v_n > 1000 OR array_ndims(p_user_ids) <> 1 OR cardinality(p_amounts) IS DISTINCT FROM v_n
       OR array_ndims(p_amounts) <> 1
       OR (p_metadata IS NOT NULL AND (cardinality(p_metadata) <> v_n OR array_ndims(p_metadata) <> 1)) THEN
        RAISE EXCEPTION 'a batch is 1 to 1000 items: as many amounts (and metadata, if any) as user ids'
            USING ERRCODE = 'WBATC',
                  DETAIL = format('user ids: %s, amounts: %s, metadata: %s', v_n,
                                  coalesce(cardinality(p_amounts), 0), coalesce(cardinality(p_metadata)::text, 'none'));
    END IF;
    IF p_type = 'topup' AND p_description IS NOT NULL THEN
        -- a single top-up has no text: its items must be the rows a single call writes
        RAISE EXCEPTION 'a top-up batch takes no description (NULL): a single top-up has none'
            USING ERRCODE = 'WBATC';
    END IF;
    IF p_atomic IS NULL THEN
        RAISE EXCEPTION 'p_atomic is true (all items or none) or false (each item on its own)'
            USING ERRCODE = 'WBATC';
    END IF;
    PERFORM ledger._check_call(p_idempotency_key, v_client, '{}'::jsonb, p_description,
                               CASE p_type WHEN 'spend' THEN 'description' WHEN 'bonus' THEN 'reason' END);
    v_system := CASE WHEN v_credit THEN 'treasury' ELSE 'revenue' END;

    -- 2. Each item's own rules (the single calls' rules of 05_rules.sql), decided without raising
    v_meta := coalesce(p_metadata, array_fill(NULL::jsonb, ARRAY[v_n]));
    v_code := array_fill(NULL::text, ARRAY[v_n]);
    v_detail := array_fill(NULL::text, ARRAY[v_n]);
    v_amount := array_fill(NULL::numeric, ARRAY[v_n]);
    FOR i IN 1 .. v_n LOOP
        v_meta[i] := coalesce(v_meta[i], '{}'::jsonb);
        IF NOT ledger._valid_user_id(p_user_ids[i]) THEN
            v_code[i] := 'invalid_user_id';
            v_detail[i] := 'a user id is 1 to 128 characters of letters, digits and ._:@-';
        ELSIF p_amounts[i] IS NULL OR p_amounts[i] = 'NaN' OR p_amounts[i] <= 0 OR p_amounts[i] > v_asset.max_amount
              OR round(p_amounts[i], v_asset.scale) <> p_amounts[i] THEN
            v_code[i] := 'invalid_amount';
            v_detail[i] := format('amount %s: above zero, at most %s, with at most %s decimal places',
                                  coalesce(p_amounts[i]::text, 'NULL'), v_asset.max_amount, v_asset.scale);
        ELSIF jsonb_typeof(v_meta[i]) <> 'object' OR octet_length(v_meta[i]::text) > ledger._metadata_max_bytes() THEN
            v_code[i] := 'invalid_metadata';
            v_detail[i] := format('metadata is a JSON object of at most %s bytes', ledger._metadata_max_bytes());
        ELSE
            v_amount[i] := round(p_amounts[i], v_asset.scale);
        END IF;
    END LOOP;
    -- (an atomic batch with invalid items goes on to the locks all the same, so that its rejection
    -- names every failing item, insufficient funds and limits included: step 4's end)

    -- 3. The key: claimed before anything moves; a concurrent holder makes this wait for its outcome.
    -- The fingerprint is what a replay must repeat: the type, asset, text, mode and every item
    -- (amounts as numbers: 10 and 10.00 are the same amount).
    v_fingerprint := md5(jsonb_build_array(p_type, p_asset_id, p_description, p_atomic, to_jsonb(p_user_ids),
                                           (SELECT jsonb_agg(trim_scale(a) ORDER BY o)
                                            FROM unnest(p_amounts) WITH ORDINALITY AS x (a, o)),
                                           to_jsonb(v_meta))::text);
    INSERT INTO ledger.batches AS b (client_id, idempotency_key, type, asset_id, description, atomic, items,
                                     fingerprint)
    VALUES (v_client, p_idempotency_key, p_type, p_asset_id, p_description, p_atomic, v_n, v_fingerprint)
    ON CONFLICT (client_id, idempotency_key) DO NOTHING
    RETURNING b.id INTO v_batch;
    -- a key is the client's for one request, batch or single call: a key a single call of the same
    -- client holds is refused here, as Redis refuses it over HTTP (one index probe per batch; the
    -- other way round, a single call does not look in ledger.batches: docs/sql-api.md, Batches)
    IF v_batch IS NOT NULL AND EXISTS (SELECT FROM ledger.transactions AS t
                                       WHERE t.client_id = v_client AND t.idempotency_key = p_idempotency_key) THEN
        RAISE EXCEPTION 'idempotency key % was used for a single call, not a batch',
                quote_literal(p_idempotency_key)
            USING ERRCODE = 'WIDEM';
    END IF;
    IF v_batch IS NULL THEN
        SELECT * INTO STRICT v_stored FROM ledger.batches AS b
        WHERE b.client_id = v_client AND b.idempotency_key = p_idempotency_key;
        IF v_stored.fingerprint <> v_fingerprint THEN
            RAISE EXCEPTION 'idempotency key % was used for a different batch (batch %)',
                    quote_literal(p_idempotency_key), v_stored.id
                USING ERRCODE = 'WIDEM';
        END IF;
        -- the items that completed are the batch's transactions (client ledger:batch, key
        -- '<batch>:<index>'), their user legs give the wallet and the balance after; the others
        -- failed, as the batch's results say
        RETURN QUERY
        SELECT v_stored.id, x.idx - 1, p_user_ids[x.idx],
               CASE WHEN t.id IS NULL THEN 'failed' ELSE 'completed' END,
               t.id, e.wallet_id, e.balance_after,
               v_stored.results -> (x.idx - 1)::text ->> 0, v_stored.results -> (x.idx - 1)::text ->> 1, true
        FROM generate_subscripts(p_user_ids, 1) AS x (idx)
        LEFT JOIN ledger.transactions AS t
               ON t.client_id = 'ledger:batch' AND t.idempotency_key = v_stored.id || ':' || (x.idx - 1)
        LEFT JOIN LATERAL (SELECT en.wallet_id, en.balance_after
                           FROM ledger.entries AS en JOIN ledger.wallets AS wl ON wl.id = en.wallet_id
                           WHERE en.transaction_id = t.id AND wl.kind = 'user') AS e ON true
        ORDER BY x.idx;
        RETURN;
    END IF;

    -- 4. The user wallets, one by one in byte order of their owners, each locked (or, for a credit,
    -- created) in its place; then every item's fate, in memory, in the items' order per user.
    v_wallet := array_fill(NULL::bigint, ARRAY[v_n]);
    v_after := array_fill(NULL::numeric, ARRAY[v_n]);
    v_version := array_fill(NULL::bigint, ARRAY[v_n]);
    -- Spends, and credits whose users all have wallets, lock them by one statement: its rows are
    -- locked as they leave the sort, so in byte order. A credit to a user without a wallet creates
    -- it, which must happen in its place in the order too: then every wallet is locked (or
    -- created) by a statement of its own, one user after the other.
    SELECT array_agg(x.owner ORDER BY x.owner COLLATE "C") INTO v_users
    FROM (SELECT DISTINCT y.owner FROM unnest(p_user_ids, v_amount) AS y (owner, amount)
          WHERE y.amount IS NOT NULL) AS x;
    v_one_lock := NOT v_credit
                  OR (SELECT count(*) FROM ledger.wallets AS wl
                      WHERE wl.owner_id = ANY (v_users) AND wl.asset_id = p_asset_id) = cardinality(v_users);
    IF v_one_lock THEN
        SELECT array_agg(l.owner_id), array_agg(l.id), array_agg(l.balance), array_agg(l.version),
               array_agg(l.usage_day), array_agg(l.earned_today), array_agg(l.spent_today)
        INTO v_l_owner, v_l_id, v_l_balance, v_l_version, v_l_day, v_l_earned, v_l_spent
        FROM (SELECT wl.owner_id, wl.id, wl.balance, wl.version, wl.usage_day, wl.earned_today, wl.spent_today
              FROM ledger.wallets AS wl
              WHERE wl.owner_id = ANY (v_users) AND wl.asset_id = p_asset_id
              ORDER BY wl.owner_id COLLATE "C"
              FOR NO KEY UPDATE) AS l;
    END IF;
    v_next := 1;
    FOR u IN
        SELECT x.owner, array_agg(x.idx ORDER BY x.idx) AS items
        FROM unnest(p_user_ids, v_amount) WITH ORDINALITY AS x (owner, amount, idx)
        WHERE x.amount IS NOT NULL
        GROUP BY x.owner
        ORDER BY x.owner COLLATE "C"
    LOOP
        w_created := false;
        IF v_one_lock THEN
            IF v_l_owner[v_next] = u.owner THEN  -- both in the same order; a missing one is skipped
                w_id := v_l_id[v_next];
                w_balance := v_l_balance[v_next];
                w_version := v_l_version[v_next];
                w_day := v_l_day[v_next];
                w_earned := v_l_earned[v_next];
                w_spent := v_l_spent[v_next];
                v_next := v_next + 1;
            ELSE
                w_id := NULL;  -- a spend by a user without a wallet
            END IF;
        ELSE
            SELECT wl.id, wl.balance, wl.version, wl.usage_day, wl.earned_today, wl.spent_today
            INTO w_id, w_balance, w_version, w_day, w_earned, w_spent
            FROM ledger.wallets AS wl
            WHERE wl.owner_id = u.owner AND wl.asset_id = p_asset_id
            FOR NO KEY UPDATE;
            IF NOT FOUND THEN
                -- a first credit: the wallet is created here, in its place in the order (a
                -- concurrent first credit of the same user makes this wait, then lock it)
                INSERT INTO ledger.wallets AS wl (asset_id, kind, owner_id, balance, version)
                VALUES (p_asset_id, 'user', u.owner, 0, 0)
                ON CONFLICT (owner_id, asset_id) DO NOTHING
                RETURNING wl.id, wl.balance, wl.version, wl.usage_day, wl.earned_today, wl.spent_today
                INTO w_id, w_balance, w_version, w_day, w_earned, w_spent;
                w_created := FOUND;
                IF NOT FOUND THEN
                    SELECT wl.id, wl.balance, wl.version, wl.usage_day, wl.earned_today, wl.spent_today INTO STRICT w_id, w_balance, w_version, w_day, w_earned, w_spent
                    FROM ledger.wallets AS wl
                    WHERE wl.owner_id = u.owner AND wl.asset_id = p_asset_id
                    FOR NO KEY UPDATE;
                END IF;
            END IF;
        END IF;
        v_wallet_id := w_id;  -- NULL: a spend by a user without a wallet
        v_run := CASE WHEN w_id IS NULL THEN 0 ELSE w_balance END;
        v_ver := CASE WHEN w_id IS NULL THEN 0 ELSE w_version END;
        IF v_asset.has_limits THEN
            v_day := (clock_timestamp() AT TIME ZONE v_asset.day_time_zone)::date;
            v_earned := CASE WHEN w_id IS NOT NULL AND w_day = v_day THEN coalesce(w_earned, 0) ELSE 0 END;
            v_spent := CASE WHEN w_id IS NOT NULL AND w_day = v_day THEN coalesce(w_spent, 0) ELSE 0 END;
            SELECT l.max_balance, l.daily_earn_limit, l.daily_spend_limit INTO v_max, v_earn_limit, v_spend_limit
            FROM ledger.user_limits AS l WHERE l.user_id = u.owner AND l.asset_id = p_asset_id;
            IF NOT FOUND THEN
                v_max := v_asset.max_balance;
                v_earn_limit := v_asset.daily_earn_limit;
                v_spend_limit := v_asset.daily_spend_limit;
            END IF;
            v_resets := to_char(((v_day + 1)::timestamp AT TIME ZONE v_asset.day_time_zone) AT TIME ZONE 'UTC',
                                'YYYY-MM-DD"T"HH24:MI:SS"Z"');
        END IF;
        FOREACH i IN ARRAY u.items LOOP
            IF NOT v_credit AND (v_wallet_id IS NULL OR v_run < v_amount[i]) THEN
                v_code[i] := 'insufficient_funds';
                v_detail[i] := format('balance: %s, requested: %s', round(v_run, v_asset.scale), v_amount[i]);
            ELSIF v_asset.has_limits AND v_credit AND v_run + v_amount[i] > v_max THEN
                v_code[i] := 'balance_limit_exceeded';
                v_detail[i] := format('limit: %s, used: %s, requested: %s', round(v_max, v_asset.scale),
                                      round(v_run, v_asset.scale), v_amount[i]);
            ELSIF v_asset.has_limits AND v_credit AND v_earned + v_amount[i] > v_earn_limit THEN
                v_code[i] := 'velocity_limit_exceeded';
                v_detail[i] := format('limit: %s, used: %s, requested: %s, resets_at: %s',
                                      round(v_earn_limit, v_asset.scale), round(v_earned, v_asset.scale),
                                      v_amount[i], v_resets);
            ELSIF v_asset.has_limits AND NOT v_credit AND v_spent + v_amount[i] > v_spend_limit THEN
                v_code[i] := 'velocity_limit_exceeded';
                v_detail[i] := format('limit: %s, used: %s, requested: %s, resets_at: %s',
                                      round(v_spend_limit, v_asset.scale), round(v_spent, v_asset.scale),
                                      v_amount[i], v_resets);
            ELSE
                v_run := v_run + CASE WHEN v_credit THEN v_amount[i] ELSE -v_amount[i] END;
                v_ver := v_ver + 1;
                IF v_asset.has_limits THEN
                    IF v_credit THEN v_earned := v_earned + v_amount[i]; ELSE v_spent := v_spent + v_amount[i]; END IF;
                END IF;
                v_wallet[i] := v_wallet_id;
                v_after[i] := v_run;
                v_version[i] := v_ver;
                v_total := v_total + v_amount[i];
            END IF;
        END LOOP;
        IF w_created AND v_ver = 0 THEN
            v_unused := v_unused || w_id;  -- created for items that all failed: removed below
        END IF;
        IF v_ver > coalesce(w_version, 0) THEN  -- what the wallet's one UPDATE writes (step 5)
            v_w_id := v_w_id || v_wallet_id;
            v_w_balance := v_w_balance || v_run;
            v_w_version := v_w_version || v_ver;
            v_w_day := v_w_day || v_day;
            v_w_earned := v_w_earned || v_earned;
            v_w_spent := v_w_spent || v_spent;
        END IF;
    END LOOP;

    v_failed := (SELECT count(*) FROM unnest(v_code) AS c WHERE c IS NOT NULL);
    IF p_atomic AND v_failed > 0 THEN
        RAISE EXCEPTION 'batch rejected: % of % items cannot be posted; nothing moved', v_failed, v_n
            USING ERRCODE = 'WBREJ', DETAIL = ledger._batch_errors(v_code, v_detail);
    END IF;

    -- a wallet this batch created for a user whose every item failed (a limit) goes again: a
    -- refused single call leaves none either, as its rollback takes the wallet with it
    IF cardinality(v_unused) > 0 THEN
        DELETE FROM ledger.wallets AS wl WHERE wl.id = ANY (v_unused);
    END IF;

    IF v_failed < v_n THEN
        -- 5. The writes: the users' wallets (locked above), one system slot, the transactions, the entries
        UPDATE ledger.wallets AS wl
        SET balance = b.balance, version = b.version, updated_at = now(),
            usage_day = CASE WHEN v_asset.has_limits THEN b.day ELSE wl.usage_day END,
            earned_today = CASE WHEN v_asset.has_limits THEN b.earned ELSE wl.earned_today END,
            spent_today = CASE WHEN v_asset.has_limits THEN b.spent ELSE wl.spent_today END
        FROM unnest(v_w_id, v_w_balance, v_w_version, v_w_day, v_w_earned, v_w_spent)
             AS b (id, balance, version, day, earned, spent)
        WHERE wl.id = b.id;

        SELECT s.wallet_id, s.balance, s.version INTO v_slot, v_slot_balance, v_slot_version
        FROM ledger._lock_system_slot(p_asset_id, v_system, v_asset.system_slots) AS s;
        UPDATE ledger.wallets AS wl
        SET balance = wl.balance + CASE WHEN v_credit THEN -v_total ELSE v_total END,
            version = wl.version + (v_n - v_failed), updated_at = now()
        WHERE wl.id = v_slot;

        WITH posted AS (
            INSERT INTO ledger.transactions AS t (type, client_id, idempotency_key, description, metadata, batch_id)
            SELECT p_type, 'ledger:batch', v_batch || ':' || (x.idx - 1), p_description, v_meta[x.idx], v_batch
            FROM generate_subscripts(v_wallet, 1) AS x (idx)
            WHERE v_wallet[x.idx] IS NOT NULL
            ORDER BY x.idx
            RETURNING t.id, t.idempotency_key
        )
        SELECT array_agg(p.id ORDER BY split_part(p.idempotency_key, ':', 2)::integer) INTO v_tx FROM posted AS p;

        -- 6. The clock, after every lock: one posted_at for the batch's entries
        v_posted := clock_timestamp();
        INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version, posted_at)
        SELECT t.tx, t.wallet, t.signed, t.after, t.version, v_posted
        FROM (
            SELECT v_tx[row_number() OVER (ORDER BY x.idx)] AS tx, x.idx, v_wallet[x.idx] AS wallet,
                   CASE WHEN v_credit THEN v_amount[x.idx] ELSE -v_amount[x.idx] END AS signed,
                   v_after[x.idx] AS after, v_version[x.idx] AS version,
                   -- the slot's running balance and version, item by item in the items' order
                   v_slot_balance + sum(CASE WHEN v_credit THEN -v_amount[x.idx] ELSE v_amount[x.idx] END)
                                    OVER (ORDER BY x.idx) AS slot_after,
                   v_slot_version + row_number() OVER (ORDER BY x.idx) AS slot_version
            FROM generate_subscripts(v_wallet, 1) AS x (idx)
            WHERE v_wallet[x.idx] IS NOT NULL
        ) AS l
        CROSS JOIN LATERAL (VALUES (l.tx, l.wallet, l.signed, l.after, l.version),
                                   (l.tx, v_slot, -l.signed, l.slot_after, l.slot_version))
            AS t (tx, wallet, signed, after, version);
    END IF;

    -- 7. The failures, kept for replays (what completed is in the ledger: the items' transactions)
    IF v_failed > 0 THEN
        UPDATE ledger.batches AS b
        SET results = (SELECT jsonb_object_agg((x.idx - 1)::text, jsonb_build_array(v_code[x.idx], v_detail[x.idx]))
                       FROM generate_subscripts(v_code, 1) AS x (idx)
                       WHERE v_code[x.idx] IS NOT NULL)
        WHERE b.id = v_batch;
    END IF;

    RETURN QUERY
    SELECT v_batch, x.idx - 1, p_user_ids[x.idx],
           CASE WHEN v_code[x.idx] IS NULL THEN 'completed' ELSE 'failed' END,
           t.tx, v_wallet[x.idx], round(v_after[x.idx], v_asset.scale), v_code[x.idx], v_detail[x.idx], false
    FROM generate_subscripts(p_user_ids, 1) AS x (idx)
    LEFT JOIN (SELECT y.idx, v_tx[row_number() OVER (ORDER BY y.idx)] AS tx
               FROM generate_subscripts(v_wallet, 1) AS y (idx)
               WHERE v_wallet[y.idx] IS NOT NULL) AS t ON t.idx = x.idx
    ORDER BY x.idx;
END
$$;
COMMENT ON FUNCTION api.post_batch(ledger.transaction_type, text, text[], numeric[], text, text, boolean, jsonb[], text) IS
    'Up to 1,000 top-ups, bonuses or spends of one asset in one call: item i is p_user_ids[i], p_amounts[i] and p_metadata[i] (NULL: {}); one description (a spend''s) or reason (a bonus''s) and one idempotency key for the batch. Atomic (the default): all items or none, WBREJ naming every failing item (DETAIL: a JSON array of index, code, detail). Not atomic: each item on its own, its outcome in its row. Each item is a transaction of its own (the batch''s id in batch_id); a replay of the key with the same items answers the stored results (replayed), with others WIDEM. Raises WASST, WBATC, WIKEY, WCLNT, WCLNS, WDESC, WBREJ, WIDEM.';
REVOKE ALL ON FUNCTION api.post_batch(ledger.transaction_type, text, text[], numeric[], text, text, boolean, jsonb[], text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.post_batch(ledger.transaction_type, text, text[], numeric[], text, text, boolean, jsonb[], text)
    TO wallet_service, wallet_job;

-- Double entry for a batch's items, at commit, all at once: each item transaction of the batch
-- has at least two entries and they sum to zero (transactions_balance skips rows with a batch_id:
-- one query per batch instead of one per item). SECURITY DEFINER, as _check_transaction_balances.
CREATE OR REPLACE FUNCTION ledger._check_batch_balances()
RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_bad record;
BEGIN
    -- per item, its entries by the primary key's prefix (a join left to the planner chose a hash
    -- join over every entry once the table grew: three times slower batches)
    SELECT t.id, x.entries, x.total INTO v_bad
    FROM ledger.transactions AS t
    CROSS JOIN LATERAL (SELECT count(*) AS entries, coalesce(sum(e.amount), 0) AS total
                        FROM ledger.entries AS e WHERE e.transaction_id = t.id) AS x
    WHERE t.batch_id = NEW.id AND (x.entries < 2 OR x.total <> 0)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'transaction % of batch % does not balance: % entries summing to %', v_bad.id, NEW.id,
                v_bad.entries, v_bad.total
            USING ERRCODE = 'WUNBL';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION ledger._check_batch_balances() IS
    'Trigger function of the deferred constraint trigger batches_balance: at commit, an item transaction of the new batch with fewer than two entries or entries not summing to zero raises WUNBL (the items'' own rows skip transactions_balance).';
REVOKE ALL ON FUNCTION ledger._check_batch_balances() FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

SELECT deploy.ensure_trigger(
    'CREATE CONSTRAINT TRIGGER batches_balance AFTER INSERT ON ledger.batches '
    'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger._check_batch_balances()');

-- A batch is written once by api.post_batch: its row at the claim, then its results (the failed
-- items), in the same database transaction, once. Nothing else of it ever changes, and no batch is
-- deleted: for every role, the owner's included (WIMUT), as the holds.
CREATE OR REPLACE FUNCTION ledger._check_batch_change()
RETURNS trigger
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION '% on ledger.batches is not allowed: batches are never deleted', TG_OP
            USING ERRCODE = 'WIMUT';
    END IF;
    IF OLD.results IS NOT NULL OR to_jsonb(NEW) - 'results' <> to_jsonb(OLD) - 'results' THEN
        RAISE EXCEPTION 'batch % is written once', OLD.id
            USING ERRCODE = 'WIMUT', HINT = 'only api.post_batch writes a batch''s results, once';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION ledger._check_batch_change() IS
    'Trigger function of batches_are_kept and batches_written_once: DELETE and TRUNCATE of batches, and any UPDATE but the one that sets the results of a batch without any, raise WIMUT, for every role.';
REVOKE ALL ON FUNCTION ledger._check_batch_change() FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

SELECT deploy.ensure_trigger(
    'CREATE TRIGGER batches_are_kept BEFORE DELETE OR TRUNCATE ON ledger.batches '
    'FOR EACH STATEMENT EXECUTE FUNCTION ledger._check_batch_change()');
SELECT deploy.ensure_trigger(
    'CREATE TRIGGER batches_written_once BEFORE UPDATE ON ledger.batches '
    'FOR EACH ROW EXECUTE FUNCTION ledger._check_batch_change()');
