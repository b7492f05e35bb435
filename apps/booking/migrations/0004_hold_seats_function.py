"""booking_hold_seats(): the whole hold in one statement (apps.booking.services.hold_seats calls it).

A later change is a new migration that runs CREATE OR REPLACE with the whole new text; the newest
such migration holds the function's current source (0008 now). PostgreSQL only; on SQLite (the newcomer fallback) this migration does nothing
and services.py holds through its ORM port of the same steps.

Table and column names are the models' (db_table booking_*). A new NOT NULL column on
booking_bookingintent needs a default in the database or a change here: the INSERT names its columns.
"""

from django.db import migrations

HOLD_SEATS = r"""
CREATE OR REPLACE FUNCTION booking_hold_seats(
    p_event_id bigint,
    p_labels text[],           -- distinct, normalised labels
    p_intent_id uuid,          -- the new intent's id (the caller made it)
    p_buyer_name text,
    p_buyer_email text,        -- normalised: who the per-buyer limit counts
    p_buyer_phone text,
    p_currency text,
    p_owner text,              -- the browser's visitor id; '' for ops and scripts
    p_client_ip inet,          -- NULL when there is no usable address
    p_network text,            -- the network p_client_ip counts against (IPv4 /32, IPv6 /64), or NULL
    p_limit integer,           -- seats per buyer (the email), and held at once per owner
    p_address_cap integer,     -- seats held at once from p_network
    p_now timestamptz,
    p_expires_at timestamptz,
    p_created_at timestamptz,
    OUT outcome text,          -- held | repeat | unknown | taken | limit | cap_visitor | cap_address
    OUT intent uuid,           -- held, repeat: the intent
    OUT labels text[],         -- unknown, taken: the seats to name
    OUT already integer,       -- limit, cap_*: the seats already counted
    OUT amount integer         -- held: the price, in paise
) LANGUAGE plpgsql VOLATILE AS $function$
DECLARE
    v_owner text := NULLIF(p_owner, '');  -- '' owns nothing: ops' holds never match each other
    v_ids bigint[];                       -- the seats, in id order
    v_versions integer[];                 -- their versions as read, same order
    v_found text[];                       -- their labels, same order
    v_taken text[];
    v_locked bigint[];
    v_count integer;
    v_keys text[];
    v_first inet;                         -- p_network's first and last address in inet order: <<= as an
    v_last inet;                          -- index range (a plain <<= of a parameter is not one in cached plans)
    v_email_seats integer;
    v_owner_seats integer;
    v_network_seats integer;
    v_done integer;
BEGIN
    -- 1. The seats. Free: AVAILABLE, or HELD by a hold that has run out. A seat held for this owner
    --    is not taken: a repeated submit finds its hold in 3. Anyone else's is, whatever the email.
    SELECT array_agg(s.id ORDER BY s.id), array_agg(s.version ORDER BY s.id), array_agg(s.label ORDER BY s.id),
           COALESCE(sum(c.price_paise), 0),
           array_agg(s.label ORDER BY s.label) FILTER (
               WHERE NOT (s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.hold_expires_at <= p_now))
                 AND NOT COALESCE(i.session_ref = v_owner, FALSE))
      INTO v_ids, v_versions, v_found, amount, v_taken
      FROM booking_seat s
      JOIN booking_section c ON c.id = s.section_id
      LEFT JOIN booking_bookingintent i ON i.id = s.intent_id
     WHERE s.event_id = p_event_id AND s.label = ANY (p_labels);
    v_count := COALESCE(array_length(v_ids, 1), 0);
    IF v_count < COALESCE(array_length(p_labels, 1), 0) THEN
        outcome := 'unknown';
        labels := ARRAY(SELECT x FROM unnest(p_labels) AS x WHERE x <> ALL (COALESCE(v_found, '{}')) ORDER BY x);
        RETURN;
    END IF;
    IF v_taken IS NOT NULL THEN
        outcome := 'taken';
        labels := v_taken;
        RETURN;
    END IF;

    -- 2. Serialise the holds of one buyer (email), one browser (owner) and one network on this event,
    --    so the counts below see each other's results; only those holds wait. The locks are taken in
    --    the order of their keys (the volatile calls run after the sort), so two holds never deadlock.
    --    Released at commit. In a plpgsql function every statement reads a fresh snapshot (READ
    --    COMMITTED), so 3 and 4 see what the holder we waited for committed: one CTE could not.
    v_keys := ARRAY['buyer:' || p_event_id || ':' || p_buyer_email];
    IF v_owner IS NOT NULL THEN
        v_keys := v_keys || ('owner:' || p_event_id || ':' || v_owner);
    END IF;
    IF p_network IS NOT NULL THEN
        v_keys := v_keys || ('net:' || p_event_id || ':' || p_network);
        v_first := network(p_network::cidr);
        v_last := set_masklen(broadcast(p_network::cidr), CASE family(v_first) WHEN 4 THEN 32 ELSE 128 END);
    END IF;
    PERFORM pg_advisory_xact_lock(k)
       FROM (SELECT DISTINCT hashtextextended(x, 0) AS k FROM unnest(v_keys) AS x) AS keys ORDER BY k;

    -- 3. A repeated submit (double click, retry): this owner's live hold of exactly these seats.
    SELECT i.id INTO intent
      FROM booking_bookingintent i
     WHERE v_owner IS NOT NULL AND i.event_id = p_event_id AND i.session_ref = v_owner
       AND i.status = 'HELD' AND i.expires_at > p_now
       AND ARRAY(SELECT l.seat_id FROM booking_intentseat l WHERE l.intent_id = i.id ORDER BY l.seat_id) = v_ids
     LIMIT 1;
    IF FOUND THEN
        outcome := 'repeat';
        RETURN;
    END IF;

    -- 4. The limits: live holds under the email, by the owner and from the network, and seats
    --    bought under the email.
    SELECT count(*) FILTER (WHERE i.buyer_email = p_buyer_email),
           count(*) FILTER (WHERE i.session_ref = v_owner),
           count(*) FILTER (WHERE i.client_ip <<= p_network::inet)
      INTO v_email_seats, v_owner_seats, v_network_seats
      FROM booking_bookingintent i
      JOIN booking_intentseat l ON l.intent_id = i.id
     WHERE i.event_id = p_event_id AND i.status = 'HELD' AND i.expires_at > p_now
       AND (i.buyer_email = p_buyer_email OR i.session_ref = v_owner OR i.client_ip BETWEEN v_first AND v_last);
    v_email_seats := v_email_seats + (
        SELECT count(*)
          FROM booking_booking k
          JOIN booking_bookedseat b ON b.booking_id = k.id
         WHERE k.event_id = p_event_id AND k.buyer_email = p_buyer_email);
    IF v_email_seats + v_count > p_limit THEN
        outcome := 'limit';
        already := v_email_seats;
        RETURN;
    ELSIF v_owner IS NOT NULL AND v_owner_seats + v_count > p_limit THEN
        outcome := 'cap_visitor';
        already := v_owner_seats;
        RETURN;
    ELSIF p_network IS NOT NULL AND v_network_seats + v_count > p_address_cap THEN
        outcome := 'cap_address';
        already := v_network_seats;
        RETURN;
    END IF;

    -- 5. Lock the seats in id order (two holds of overlapping seats never deadlock), keeping those
    --    still as read in 1 and still free. Short: someone took a seat meanwhile, and as nothing has
    --    been written yet there is nothing to undo (no savepoint, no exception).
    SELECT array_agg(t.id) INTO v_locked
      FROM (SELECT s.id FROM booking_seat s
             WHERE s.id = ANY (v_ids)
               AND s.version = v_versions[array_position(v_ids, s.id)] AND (s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.hold_expires_at <= p_now))
             ORDER BY s.id
               FOR UPDATE) AS t;
    IF COALESCE(array_length(v_locked, 1), 0) < v_count THEN
        outcome := 'taken';
        labels := ARRAY(SELECT x.label FROM unnest(v_ids, v_found) AS x(id, label)
                         WHERE x.id <> ALL (COALESCE(v_locked, '{}')) ORDER BY x.label);
        RETURN;
    END IF;

    -- 6. Write: the intent; the seats, with the conditional versioned UPDATE (the last guard: its
    --    rows are locked by 5, so it takes them all); which seats the intent asked for.
    INSERT INTO booking_bookingintent (id, event_id, buyer_name, buyer_email, buyer_phone, amount_paise, currency,
                                       status, expires_at, extended_at, session_ref, client_ip, created_at, ended_at)
    VALUES (p_intent_id, p_event_id, p_buyer_name, p_buyer_email, p_buyer_phone, amount, p_currency,
            'HELD', p_expires_at, NULL, p_owner, p_client_ip, p_created_at, NULL);
    UPDATE booking_seat s
       SET status = 'HELD', intent_id = p_intent_id, hold_expires_at = p_expires_at, version = s.version + 1
     WHERE s.id = ANY (v_ids)
               AND s.version = v_versions[array_position(v_ids, s.id)] AND (s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.hold_expires_at <= p_now));
    GET DIAGNOSTICS v_done = ROW_COUNT;
    IF v_done <> v_count THEN  -- cannot happen while 5 holds the rows; if it does, roll everything back
        RAISE EXCEPTION 'hold %: % of % locked seats updated', p_intent_id, v_done, v_count;
    END IF;
    INSERT INTO booking_intentseat (intent_id, seat_id) SELECT p_intent_id, unnest(v_ids);
    outcome := 'held';
    intent := p_intent_id;
END;
$function$
"""

DROP_HOLD_SEATS = """
DROP FUNCTION IF EXISTS booking_hold_seats(
    bigint, text[], uuid, text, text, text, text, text, inet, text, integer, integer, timestamptz, timestamptz,
    timestamptz
)
"""


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(HOLD_SEATS, params=None)  # the % of RAISE are not placeholders


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_HOLD_SEATS, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0003_hold_owner_and_address_caps"),
    ]

    operations = [
        migrations.RunPython(create_function, drop_function, elidable=False),
    ]
