package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/compiler"
	"github.com/kilnhq/kiln/dag/run"
)

// printer renders run events as dbt-like text lines or JSON lines.
type printer struct {
	a     *app
	s     *session
	json  bool
	color bool
	tty   bool // stdout is a terminal: show a live status line of running loads
	mu    sync.Mutex
	// loads are the raw-ingest loads running, for the status line.
	loads      map[string]*loadProgress
	statusLine bool // a status line is on screen
}

// loadProgress is how far one running load is.
type loadProgress struct {
	started     time.Time
	rows, bytes int64
}

func (a *app) newPrinter(s *session) *printer {
	return &printer{a: a, s: s, json: a.f.logFormat == "json", color: useColor(a.stdout, a.env), tty: isTerminal(a.stdout), loads: map[string]*loadProgress{}}
}

func useColor(w io.Writer, env map[string]string) bool {
	if _, ok := env["NO_COLOR"]; ok {
		return false
	}
	return isTerminal(w)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (a *app) logLine(msg string) {
	if a.f.logFormat == "json" {
		b, _ := json.Marshal(map[string]any{"event": "log", "msg": msg, "ts": time.Now().UTC().Format(time.RFC3339Nano)})
		fmt.Fprintln(a.stdout, string(b))
		return
	}
	fmt.Fprintln(a.stdout, msg)
}

func (p *printer) emitJSON(v map[string]any) {
	v["ts"] = time.Now().UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(v)
	fmt.Fprintln(p.a.stdout, string(b))
}

func (p *printer) header(total int) {
	if p.json {
		p.emitJSON(map[string]any{"event": "run_start", "total": total, "target": p.s.target.Name, "adapter": p.s.target.Profile.Type})
		return
	}
	fmt.Fprintf(p.a.stdout, "Running %d nodes on %s target %q with %d threads\n", total, p.s.target.Profile.Type, p.s.target.Name, p.s.target.Profile.Threads)
}

func describe(n *compiler.Node) string {
	switch n.Type {
	case compiler.Test:
		return "test " + n.Name
	case compiler.Seed:
		return "seed file " + n.Schema + "." + n.Alias
	case compiler.Snapshot:
		return "snapshot " + n.Schema + "." + n.Alias
	case compiler.Source:
		return "load of source " + n.SourceName + "." + n.Name + " into " + n.Schema + "." + n.Alias
	default:
		return "sql " + n.Materialized() + " model " + n.Schema + "." + n.Alias
	}
}

func (p *printer) paint(code, s string) string {
	if !p.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func dots(left, right string) string {
	n := 80 - len(left) - len(right) - 2
	if n < 3 {
		n = 3
	}
	return left + " " + strings.Repeat(".", n) + " " + right
}

// progress hears a running load's rows and bytes so far: a JSON event, or
// on a terminal the status line under the run's output.
func (p *printer) progress(id string, rows, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lp := p.loads[id]
	if lp == nil {
		lp = &loadProgress{started: time.Now()}
		p.loads[id] = lp
	}
	lp.rows, lp.bytes = rows, bytes
	if p.json {
		n := p.s.compiler.Node(id)
		p.emitJSON(map[string]any{"event": "node_progress", "unique_id": id, "name": n.Name, "rows": rows, "bytes": bytes,
			"rows_per_second": lp.rate(), "elapsed": time.Since(lp.started).Seconds()})
		return
	}
	if p.tty {
		p.drawStatus()
	}
}

func (lp *loadProgress) rate() float64 {
	if s := time.Since(lp.started).Seconds(); s > 0 {
		return float64(lp.rows) / s
	}
	return 0
}

// drawStatus rewrites the status line: each running load's rows, bytes
// and rows/s.
func (p *printer) drawStatus() {
	ids := make([]string, 0, len(p.loads))
	for id := range p.loads {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		p.clearStatus()
		return
	}
	sort.Strings(ids)
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		n := p.s.compiler.Node(id)
		parts = append(parts, n.SourceName+"."+n.Name+" "+p.loads[id].String())
	}
	fmt.Fprint(p.a.stdout, statusLine(parts))
	p.statusLine = true
}

// String spells a load's progress for the status line.
func (lp *loadProgress) String() string {
	return fmt.Sprintf("%d rows, %s, %.0f rows/s", lp.rows, humanBytes(lp.bytes), lp.rate())
}

// statusLine is the terminal status line of the running loads: it returns
// to the start of the line, clears it and writes at most 160 characters.
func statusLine(parts []string) string {
	line := "  loading " + strings.Join(parts, " | ")
	if len(line) > 160 {
		line = line[:157] + "..."
	}
	return "\r\x1b[K" + line
}

func (p *printer) clearStatus() {
	if p.statusLine {
		fmt.Fprint(p.a.stdout, "\r\x1b[K")
		p.statusLine = false
	}
}

// humanBytes spells a byte count: 512 B, 12.3 kB, 4.5 MB, 1.2 GB.
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, suffix := float64(n), "kMGTP"
	i := -1
	for f >= unit && i < len(suffix)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %cB", f, suffix[i])
}

func (p *printer) event(e run.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Kind == run.EventFinish {
		delete(p.loads, e.ID)
	}
	if !p.json {
		p.clearStatus()
		defer func() {
			if len(p.loads) > 0 && p.tty {
				p.drawStatus()
			}
		}()
	}
	n := p.s.compiler.Node(e.ID)
	if p.json {
		v := map[string]any{"event": "node_" + string(e.Kind), "unique_id": e.ID, "index": e.Index, "total": e.Total, "name": n.Name, "resource_type": n.Type, "materialized": n.Materialized()}
		if e.Kind == run.EventFinish {
			v["status"] = e.Outcome.Status
			v["message"] = e.Outcome.Message
			v["execution_time"] = e.Outcome.Elapsed.Seconds()
			v["rows_affected"] = e.Outcome.RowsAffected
			if n.Type == compiler.Source {
				v["bytes"] = e.Outcome.Bytes
			}
			if n.Type == compiler.Test {
				v["failures"] = e.Outcome.Failures
			}
			if e.Outcome.Err != nil {
				v["error"] = e.Outcome.Err.Error()
			}
		}
		p.emitJSON(v)
		return
	}
	prefix := fmt.Sprintf("%d of %d", e.Index, e.Total)
	if e.Kind == run.EventStart {
		fmt.Fprintln(p.a.stdout, dots(fmt.Sprintf("%s START %s", prefix, describe(n)), "[RUN]"))
		return
	}
	o := e.Outcome
	switch o.Status {
	case run.StatusSuccess:
		verb := "OK created " + describe(n)
		if n.Type == compiler.Seed {
			verb = "OK loaded " + describe(n)
		}
		if n.Type == compiler.Source {
			verb = "OK " + describe(n)
		}
		detail := o.Message
		if n.Type == compiler.Source && o.Elapsed > 0 {
			detail += fmt.Sprintf(", %s, %.0f rows/s", humanBytes(o.Bytes), float64(o.RowsAffected)/o.Elapsed.Seconds())
		}
		fmt.Fprintln(p.a.stdout, dots(fmt.Sprintf("%s %s", prefix, p.paint("32", verb)), fmt.Sprintf("[%s in %.2fs]", detail, o.Elapsed.Seconds())))
	case run.StatusError:
		fmt.Fprintln(p.a.stdout, dots(fmt.Sprintf("%s %s", prefix, p.paint("31", "ERROR creating "+describe(n))), fmt.Sprintf("[ERROR in %.2fs]", o.Elapsed.Seconds())))
	case run.StatusPass:
		fmt.Fprintln(p.a.stdout, dots(fmt.Sprintf("%s %s %s", prefix, p.paint("32", "PASS"), n.Name), fmt.Sprintf("[PASS in %.2fs]", o.Elapsed.Seconds())))
	case run.StatusWarn:
		fmt.Fprintln(p.a.stdout, dots(fmt.Sprintf("%s %s %s", prefix, p.paint("33", fmt.Sprintf("WARN %d", o.Failures)), n.Name), fmt.Sprintf("[WARN %d in %.2fs]", o.Failures, o.Elapsed.Seconds())))
	case run.StatusFail:
		fmt.Fprintln(p.a.stdout, dots(fmt.Sprintf("%s %s %s", prefix, p.paint("31", fmt.Sprintf("FAIL %d", o.Failures)), n.Name), fmt.Sprintf("[FAIL %d in %.2fs]", o.Failures, o.Elapsed.Seconds())))
	case run.StatusSkipped:
		what := "relation " + n.Schema + "." + n.Alias
		if n.Type == compiler.Test {
			what = "test " + n.Name
		}
		fmt.Fprintln(p.a.stdout, dots(fmt.Sprintf("%s %s", prefix, p.paint("33", "SKIP "+what)), "[SKIP: "+o.SkipReason+"]"))
	}
}

// summary prints errors and totals; it reports whether anything failed.
func (p *printer) summary(results map[string]run.Outcome, elapsed time.Duration) bool {
	var pass, warn, errs, skip int
	ids := make([]string, 0, len(results))
	for id := range results {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		switch results[id].Status {
		case run.StatusSuccess, run.StatusPass:
			pass++
		case run.StatusWarn:
			warn++
		case run.StatusError, run.StatusFail:
			errs++
		case run.StatusSkipped:
			skip++
		}
	}
	total := len(results)
	if p.json {
		p.emitJSON(map[string]any{"event": "run_end", "pass": pass, "warn": warn, "error": errs, "skip": skip, "total": total, "elapsed": elapsed.Seconds()})
		return errs > 0
	}
	fmt.Fprintf(p.a.stdout, "\nFinished running %d nodes in %.2fs.\n", total, elapsed.Seconds())
	for _, id := range ids {
		o := results[id]
		n := p.s.compiler.Node(id)
		switch {
		case o.Status == run.StatusError && o.Err != nil:
			fmt.Fprintf(p.a.stderr, "\n%s in %s %s\n  %s\n", p.paint("31", "Error"), n.Type, n.Name, strings.ReplaceAll(o.Err.Error(), "\n", "\n  "))
		case o.Status == run.StatusFail || o.Status == run.StatusWarn:
			label := p.paint("31", "Failure")
			if o.Status == run.StatusWarn {
				label = p.paint("33", "Warning")
			}
			fmt.Fprintf(p.a.stderr, "\n%s in test %s (%s)\n  %s\n  compiled code at %s\n", label, n.Name, n.OriginalFilePath, o.Message, p.s.compiler.CompiledPath(n))
		}
	}
	fmt.Fprintf(p.a.stdout, "\nDone. PASS=%d WARN=%d ERROR=%d SKIP=%d TOTAL=%d\n", pass, warn, errs, skip, total)
	return errs > 0
}

// printTable prints rows as an aligned text table.
func printTable(w io.Writer, title string, rows adapters.Rows) error {
	cols := rows.Columns()
	header := make([]string, len(cols))
	widths := make([]int, len(cols))
	for i, c := range cols {
		header[i] = c.Name
		widths[i] = len(c.Name)
	}
	var data [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		line := make([]string, len(vals))
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
				line[i] = "NULL"
			case time.Time:
				if x.Equal(x.Truncate(24 * time.Hour)) {
					line[i] = x.Format("2006-01-02")
				} else {
					line[i] = x.Format("2006-01-02 15:04:05")
				}
			case []byte:
				line[i] = string(x)
			default:
				line[i] = fmt.Sprint(x)
			}
			if len(line[i]) > widths[i] {
				widths[i] = len(line[i])
			}
		}
		data = append(data, line)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	fmt.Fprintf(w, "Previewing %s:\n", title)
	row := func(cells []string) {
		parts := make([]string, len(cells))
		for i, c := range cells {
			parts[i] = c + strings.Repeat(" ", widths[i]-len(c))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(parts, " | "))
	}
	row(header)
	sep := make([]string, len(widths))
	for i, wd := range widths {
		sep[i] = strings.Repeat("-", wd)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(sep, " | "))
	for _, d := range data {
		row(d)
	}
	return nil
}
