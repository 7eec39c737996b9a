package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters"
)

var _ adapters.Locker = (*Warehouse)(nil)

// lockPoll is how often a waiting Lock tries again.
const lockPoll = 100 * time.Millisecond

// ApplicationName is the application_name kiln's connections report, so
// that pg_stat_activity (and a second run's lock message) can tell which
// process holds them: "kiln pid 1234 on build-1". Postgres keeps the first
// 63 bytes.
func ApplicationName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("kiln pid %d on %s", os.Getpid(), host)
}

// kilnApp parses ApplicationName back.
var kilnApp = regexp.MustCompile(`^kiln\b.*\bpid (\d+) on (\S+)`)

// LockKey is the advisory lock key Lock takes for key: the FNV-1a hash of
// "kiln:"+key, computed here rather than with hashtext() so that it does
// not depend on the server version. An operator can look for it with
// `select * from pg_locks where locktype = 'advisory'` (classid is the high
// 32 bits, objid the low 32 bits).
func LockKey(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte("kiln:" + key))
	return int64(h.Sum64())
}

// Lock implements adapters.Locker with a session-level advisory lock
// (pg_try_advisory_lock(LockKey(key))) taken on a connection of its own,
// outside the pool, which it keeps until unlock closes it. The lock lives
// in the database named by the profile; when the process dies the server
// ends the session and the lock goes with it. The holder is named from
// pg_locks and pg_stat_activity.
func (w *Warehouse) Lock(ctx context.Context, key string, wait time.Duration) (func(), error) {
	cfg := w.pool.Config().ConnConfig.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = ApplicationName()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to postgres at %s:%d for the run lock: %w", cfg.Host, cfg.Port, wrapErr(ctx, err, ""))
	}
	closeConn := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}
	k := LockKey(key)
	start := time.Now()
	for {
		const try = "select pg_try_advisory_lock($1)"
		var ok bool
		if err := conn.QueryRow(ctx, try, k).Scan(&ok); err != nil {
			closeConn()
			return nil, fmt.Errorf("taking the run lock: %w", wrapErr(ctx, err, try))
		}
		if ok {
			break
		}
		waited := time.Since(start)
		if waited >= wait {
			le := holder(ctx, conn, k)
			le.Waited = waited.Round(time.Millisecond)
			closeConn()
			return nil, le
		}
		t := time.NewTimer(min(lockPoll, wait-waited))
		select {
		case <-ctx.Done():
			t.Stop()
			closeConn()
			return nil, fmt.Errorf("waiting for the run lock: %w", ctx.Err())
		case <-t.C:
		}
	}
	// Closing the session releases the lock; pg_advisory_unlock first would
	// add a round trip and nothing else.
	var once sync.Once
	return func() { once.Do(closeConn) }, nil
}

// holder describes the session holding advisory lock k in this database.
func holder(ctx context.Context, conn *pgx.Conn, k int64) *adapters.LockedError {
	const q = `select a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), ''), a.backend_start
from pg_locks l join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'advisory' and l.granted and l.objsubid = 1
  and l.database = (select oid from pg_database where datname = current_database())
  and l.classid::bigint = $1 and l.objid::bigint = $2
limit 1`
	var (
		pid         int
		app, client string
		since       *time.Time
	)
	u := uint64(k)
	err := conn.QueryRow(ctx, q, int64(u>>32), int64(u&0xffffffff)).Scan(&pid, &app, &client, &since)
	if err != nil {
		// The holder may have let go in between, or pg_stat_activity may be
		// hidden from this role: report the lock without a name.
		return &adapters.LockedError{}
	}
	var at time.Time
	if since != nil {
		at = *since
	}
	if m := kilnApp.FindStringSubmatch(app); m != nil {
		ospid, _ := strconv.Atoi(m[1])
		return &adapters.LockedError{Holder: adapters.DescribeHolder(ospid, m[2], at)}
	}
	parts := []string{fmt.Sprintf("backend pid %d", pid)}
	if app != "" {
		parts = append([]string{strconv.Quote(app)}, parts...)
	}
	if client != "" {
		parts = append(parts, "from "+client)
	}
	if s := adapters.DescribeHolder(0, "", at); s != "" {
		parts = append(parts, s)
	}
	desc := strings.Join(parts, " ")
	return &adapters.LockedError{Holder: desc, Foreign: app != ""}
}
