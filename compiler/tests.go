package compiler

import (
	"context"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/project"
	"github.com/kilnhq/kiln/compiler/sqlparse"
	"github.com/kilnhq/kiln/internal/pool"
)

// TestSpec describes a data test node.
type TestSpec struct {
	// Generic is false for singular tests (.sql files under test paths).
	Generic   bool
	Name      string         // the generic test: "unique", "accepted_values"
	Namespace string         // package prefix, "" for none
	Kwargs    map[string]any // arguments passed to the test macro (dbt's test_metadata.kwargs)
	Column    string         // column_name, "" for model-level tests
	// AttachedNode is the model, seed or snapshot under test ("" for
	// sources and singular tests).
	AttachedNode string
	// CompiledName is the file name / alias: the full name, or a shortened
	// one when that is 64 characters or more.
	CompiledName string
	Pos          diag.Pos // where the test is declared
}

// Test configuration keys that may appear among a generic test's arguments.
var testConfigArgs = []string{"severity", "tags", "enabled", "where", "limit", "warn_if", "error_if",
	"fail_calc", "store_failures", "meta", "database", "schema", "alias"}

var thresholdRe = regexp.MustCompile(`^\s*(==|!=|<>|>=|<=|>|<|=)\s*-?\d+(\.\d+)?\s*$`)

// testTarget is what a generic test is declared on.
type testTarget struct {
	name     string // model/seed name, or "<source>_<table>"
	isSource bool
	modelStr string // "ref('x')" or "source('s', 't')"
	attached string // unique id of the attached node
	file     string // the schema file declaring it
	quoteCol bool
}

// addTests creates generic tests from schema files and singular tests from
// test paths.
func (c *Compiler) addTests() error {
	var errs diag.List
	var jobs []testJob
	for _, name := range project.SortedKeys(c.Project.ModelPatches) {
		patch := c.Project.ModelPatches[name]
		n := c.byName[name]
		if n == nil || n.Type != Model {
			if len(patch.Tests) > 0 || hasColumnTests(patch.Columns) {
				if !c.disabled[name] {
					errs.Add(c.unknownTarget(patch, "model"))
				}
			}
			continue // tests of disabled models are disabled
		}
		t := testTarget{name: name, modelStr: fmt.Sprintf("ref('%s')", name), attached: n.UniqueID, file: patch.Pos.File}
		jobs = appendTestJobs(jobs, t, patch.Tests, patch.Columns)
	}
	for _, name := range project.SortedKeys(c.Project.SeedPatches) {
		patch := c.Project.SeedPatches[name]
		n := c.byName[name]
		if n == nil || n.Type != Seed {
			if (len(patch.Tests) > 0 || hasColumnTests(patch.Columns)) && !c.disabled[name] {
				errs.Add(c.unknownTarget(patch, "seed"))
			}
			continue
		}
		t := testTarget{name: name, modelStr: fmt.Sprintf("ref('%s')", name), attached: n.UniqueID, file: patch.Pos.File}
		jobs = appendTestJobs(jobs, t, patch.Tests, patch.Columns)
	}
	for _, s := range c.Project.Sources {
		for _, tbl := range s.Tables {
			t := testTarget{name: s.Name + "_" + tbl.Name, isSource: true, modelStr: fmt.Sprintf("source('%s', '%s')", s.Name, tbl.Name), file: tbl.Pos.File}
			jobs = appendTestJobs(jobs, t, tbl.Tests, tbl.Columns)
		}
	}
	// Build the nodes in parallel, then register them in declaration order.
	nodes := make([]*Node, len(jobs))
	buildErrs := make([]error, len(jobs))
	pool.Each(context.Background(), len(jobs), 0, func(i int) {
		nodes[i], buildErrs[i] = c.genericTest(jobs[i].target, jobs[i].column, jobs[i].entry)
	})
	for i, n := range nodes {
		if buildErrs[i] != nil {
			errs.Add(buildErrs[i])
			continue
		}
		errs.Add(c.registerTest(n))
	}
	errs.Add(c.addSingularTests())
	return errs.Err()
}

func hasColumnTests(cols []*project.ColumnSpec) bool {
	for _, c := range cols {
		if len(c.Tests) > 0 {
			return true
		}
	}
	return false
}

// unknownTarget reports tests declared for a model or seed that does not
// exist.
func (c *Compiler) unknownTarget(patch *project.Patch, kind string) error {
	d := diag.At(patch.Pos, "tests are declared for %s %q, which does not exist", kind, patch.Name)
	var names []string
	for n, node := range c.byName {
		if string(node.Type) == kind {
			names = append(names, n)
		}
	}
	if s := diag.Closest(patch.Name, names); s != "" {
		d.Hint = fmt.Sprintf("did you mean `%s`?", s)
	}
	return d
}

// testJob is one YAML test entry to turn into a node.
type testJob struct {
	target testTarget
	column string
	entry  *project.Node
}

func appendTestJobs(jobs []testJob, t testTarget, modelTests []*project.Node, cols []*project.ColumnSpec) []testJob {
	for _, tn := range modelTests {
		jobs = append(jobs, testJob{t, "", tn})
	}
	for _, col := range cols {
		for _, tn := range col.Tests {
			jobs = append(jobs, testJob{t, col.Name, tn})
		}
	}
	return jobs
}

// genericTest builds one test node from a YAML test entry. It only reads
// the compiler, so entries are built in parallel.
func (c *Compiler) genericTest(t testTarget, column string, entry *project.Node) (*Node, error) {
	testName, args, cfg, err := splitTestEntry(entry)
	if err != nil {
		return nil, err
	}
	ns := ""
	if i := strings.IndexByte(testName, '.'); i >= 0 {
		ns, testName = testName[:i], testName[i+1:]
		if ns != "dbt" && ns != c.Project.Name {
			return nil, diag.At(entry.Pos, "test %s.%s: package %q is not installed", ns, testName, ns)
		}
		if ns == "dbt" || ns == c.Project.Name {
			ns = ""
		}
	}
	if _, ok := args["model"]; ok {
		return nil, diag.At(entry.Pos, "test %s: `model` is set by kiln and cannot be an argument", testName)
	}
	if column != "" {
		args["column_name"] = column
	}
	if err := c.checkTestArgs(entry, testName, args, column != ""); err != nil {
		return nil, err
	}
	if err := checkTestConfig(cfg); err != nil {
		return nil, err
	}
	args["model"] = "{{ get_where_subquery(" + t.modelStr + ") }}"
	custom, _ := args["name"].(string)
	delete(args, "name")
	fullName, shortName := custom, custom
	if custom == "" {
		prefix := testName
		if t.isSource {
			prefix = "source_" + testName
		}
		shortName, fullName = synthesizeTestNames(prefix, t.name, args)
	}
	meta := map[string]any{"name": testName, "namespace": nil, "kwargs": args}
	hash := md5hex(fullName + pyRepr(hashable(meta)))
	rel := strings.TrimPrefix(t.file, firstDir(t.file))
	n := &Node{
		UniqueID:         fmt.Sprintf("test.%s.%s.%s", c.Project.Name, fullName, hash[len(hash)-10:]),
		Type:             Test,
		Name:             fullName,
		Package:          c.Project.Name,
		Path:             shortName + ".sql",
		OriginalFilePath: t.file,
		FQN:              append(append([]string{c.Project.Name}, dirParts(rel)...), fullName),
		Config:           newConfig(),
		Test: &TestSpec{Generic: true, Name: testName, Namespace: ns, Kwargs: args, Column: column,
			AttachedNode: t.attached, CompiledName: shortName, Pos: entry.Pos},
	}
	n.Raw = fmt.Sprintf("{{ test_%s(**_dbt_generic_test_kwargs) }}", testName)
	c.applyTestConfig(n, cfg, entry.Pos)
	if shortName != fullName && n.Config.String("alias") == "" {
		n.Config.Set("alias", shortName, entry.Pos)
	}
	return n, nil
}

// splitTestEntry separates a YAML test entry into the test name, its macro
// arguments and its config, following dbt's three spellings:
// `- unique`, `- accepted_values: {values: [...]}` and
// `- {test_name: unique, name: custom}`. Arguments may also be nested under
// `arguments:`.
func splitTestEntry(entry *project.Node) (string, map[string]any, map[string]*project.Node, error) {
	cfg := map[string]*project.Node{}
	args := map[string]any{}
	var name string
	var argNode *project.Node
	switch entry.Kind {
	case project.ScalarNode:
		name = entry.String()
	case project.MapNode:
		if tn := entry.Get("test_name"); tn != nil {
			name = tn.String()
			argNode = entry
		} else {
			if len(entry.Keys) != 1 {
				return "", nil, nil, diag.At(entry.Pos, "a test entry must have exactly one key, the test name (found %s)", strings.Join(entry.Keys, ", "))
			}
			name = entry.Keys[0]
			argNode = entry.Map[name]
		}
	default:
		return "", nil, nil, diag.At(entry.Pos, "a test must be a name or a mapping of a name to its arguments")
	}
	if name == "" {
		return "", nil, nil, diag.At(entry.Pos, "test without a name")
	}
	if argNode != nil && !argNode.IsNull() {
		if argNode.Kind != project.MapNode {
			return "", nil, nil, diag.At(argNode.Pos, "the arguments of test %s must be a mapping", name)
		}
		for _, k := range argNode.Keys {
			v := argNode.Map[k]
			switch {
			case k == "test_name":
			case k == "config":
				if v.Kind != project.MapNode {
					return "", nil, nil, diag.At(v.Pos, "`config:` of test %s must be a mapping", name)
				}
				for _, ck := range v.Keys {
					cfg[ck] = v.Map[ck]
				}
			case k == "arguments":
				if v.Kind != project.MapNode {
					return "", nil, nil, diag.At(v.Pos, "`arguments:` of test %s must be a mapping", name)
				}
				for _, ak := range v.Keys {
					args[ak] = v.Map[ak].Value()
				}
			case contains(testConfigArgs, k):
				cfg[k] = v
			default:
				args[k] = v.Value()
			}
		}
	}
	return name, args, cfg, nil
}

// checkTestArgs validates the arguments against the test macro.
func (c *Compiler) checkTestArgs(entry *project.Node, name string, args map[string]any, onColumn bool) error {
	m, ok := c.Env.Macro("test_" + name)
	if !ok {
		d := diag.At(entry.Pos, "unknown test %q", name)
		known := c.knownTests()
		if s := diag.Closest(name, known); s != "" {
			d.Hint = fmt.Sprintf("did you mean `%s`?", s)
		} else {
			d.Hint = "known tests: " + strings.Join(known, ", ")
		}
		return d
	}
	params, required := m.Params()
	for _, r := range required {
		if r == "model" || (r == "column_name" && onColumn) {
			continue
		}
		if _, ok := args[r]; !ok {
			if r == "column_name" {
				return diag.At(entry.Pos, "test %s needs a column: declare it under a column's `tests:`", name)
			}
			return diag.At(entry.Pos, "test %s requires the argument `%s`", name, r)
		}
	}
	if !m.AcceptsKwargs() {
		for k := range args {
			if k == "name" || (k == "column_name" && onColumn) {
				continue
			}
			if !contains(params, k) {
				return diag.At(entry.Pos, "test %s has no argument `%s` (arguments: %s)", name, k, strings.Join(params, ", "))
			}
		}
	}
	return nil
}

func (c *Compiler) knownTests() []string {
	var out []string
	for _, n := range c.Env.MacroNames() {
		if strings.HasPrefix(n, "test_") {
			out = append(out, strings.TrimPrefix(n, "test_"))
		}
	}
	return out
}

// checkTestConfig validates severity and thresholds with their positions.
func checkTestConfig(cfg map[string]*project.Node) error {
	var errs diag.List
	if v := cfg["severity"]; v != nil {
		if s := strings.ToLower(v.String()); s != "error" && s != "warn" {
			errs.Addf(v.Pos, "invalid severity %q: use error or warn", v.String())
		}
	}
	for _, k := range []string{"warn_if", "error_if"} {
		if v := cfg[k]; v != nil && !thresholdRe.MatchString(v.String()) {
			errs.Addf(v.Pos, "invalid %s %q: use a comparison with a number, e.g. \">10\" or \"!=0\"", k, v.String())
		}
	}
	if v := cfg["limit"]; v != nil {
		if _, ok := v.Scalar.(int64); !ok {
			errs.Addf(v.Pos, "`limit` must be a whole number, got %q", v.String())
		}
	}
	return errs.Err()
}

// applyTestConfig applies the project's tests: tree, then the entry's own
// config.
func (c *Compiler) applyTestConfig(n *Node, cfg map[string]*project.Node, pos diag.Pos) {
	applyProjectConfig(&n.Config, c.Project.TestsConfig, n.FQN)
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n.Config.Set(k, cfg[k].Value(), cfg[k].Pos)
	}
}

// renderTests renders every test once (in parallel), applies the configs
// set with config() and names the relation where failures are stored.
func (c *Compiler) renderTests(ctx context.Context) error {
	var tests []*Node
	for _, id := range c.SortedIDs() {
		if n := c.Nodes[id]; n.Type == Test {
			tests = append(tests, n)
		}
	}
	errs := make([]error, len(tests))
	pool.Each(ctx, len(tests), 0, func(i int) {
		n := tests[i]
		if n.Test.Generic {
			// Like dbt for its built-in tests, skip Jinja at parse time:
			// the dependencies are the ref()/source() calls in the
			// arguments; the test renders when it is compiled.
			n.parsed.calls = staticCalls(n.Test.Kwargs)
			n.lateRender = true
			errs[i] = c.nameRelation(n)
			return
		}
		if err := c.parseRender(n); err != nil {
			if n.Test.Generic {
				err = diag.At(n.Test.Pos, "test %s: %v", n.Name, stripPos(err))
			}
			errs[i] = err
			return
		}
		errs[i] = c.nameRelation(n)
	})
	var all diag.List
	for i, err := range errs {
		all.Add(err)
		if err == nil && !tests[i].Config.Bool("enabled", true) {
			delete(c.Nodes, tests[i].UniqueID)
		}
	}
	return all.Err()
}

// stripPos drops the position of a diagnostic (generic tests report at
// their YAML entry instead of their synthetic template).
func stripPos(err error) string {
	if d, ok := err.(*diag.Diagnostic); ok {
		msg := d.Msg
		if d.Hint != "" {
			msg += " (" + d.Hint + ")"
		}
		return msg
	}
	return err.Error()
}

// registerTest adds a test node; test names need not be unique across
// models but ids must be.
func (c *Compiler) registerTest(n *Node) error {
	if !n.Config.Bool("enabled", true) {
		return nil
	}
	if prev, dup := c.Nodes[n.UniqueID]; dup {
		return diag.At(n.Test.Pos, "test %s is declared twice (also at %s); give one a `name:`", n.Name, prev.Test.Pos)
	}
	c.Nodes[n.UniqueID] = n
	return nil
}

func (c *Compiler) addSingularTests() error {
	var errs diag.List
	for _, f := range c.Project.Tests {
		rel, _ := project.RelDir(f.Path, c.Project.TestPaths)
		name := strings.TrimSuffix(path.Base(f.Path), ".sql")
		n := &Node{
			UniqueID:         fmt.Sprintf("test.%s.%s", c.Project.Name, name),
			Type:             Test,
			Name:             name,
			Package:          c.Project.Name,
			Path:             rel,
			OriginalFilePath: f.Path,
			FQN:              fqn(c.Project.Name, rel),
			Raw:              f.Source,
			Checksum:         checksum(f.Source),
			Config:           newConfig(),
			Test:             &TestSpec{CompiledName: name, Pos: diag.Pos{File: f.Path, Line: 1}},
		}
		applyProjectConfig(&n.Config, c.Project.TestsConfig, n.FQN)
		if prev, dup := c.Nodes[n.UniqueID]; dup {
			errs.Addf(n.Test.Pos, "two tests are named %q: %s and %s", name, prev.OriginalFilePath, f.Path)
			continue
		}
		c.Nodes[n.UniqueID] = n
	}
	return errs.Err()
}

// synthesizeTestNames names a generic test as dbt does:
// <test>_<target>_<flattened args>, shortened to 30 characters plus an md5
// when it is 64 characters or longer.
func synthesizeTestNames(test, target string, args map[string]any) (short, full string) {
	keys := make([]string, 0, len(args))
	for k := range args {
		if k != "model" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		switch v := args[k].(type) {
		case map[string]any:
			for _, mk := range sortedKeysAny(v) {
				parts = append(parts, pyStr(v[mk]))
			}
		case []any:
			for _, e := range v {
				parts = append(parts, pyStr(e))
			}
		default:
			parts = append(parts, pyStr(v))
		}
	}
	for i, p := range parts {
		parts[i] = nonWord.ReplaceAllString(p, "_")
	}
	ident := test + "_" + target
	full = ident + "_" + strings.Join(parts, "__")
	if len(full) >= 64 {
		id := ident
		if len(id) > 30 {
			id = id[:30]
		}
		return id + "_" + md5hex(full), full
	}
	return full, full
}

var nonWord = regexp.MustCompile(`[^0-9a-zA-Z_]+`)

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func sortedKeysAny(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hashable mirrors dbt's get_hashable_md: leaves become strings.
func hashable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = hashable(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = hashable(e)
		}
		return out
	}
	return pyStr(v)
}

// pyStr is Python's str() of a YAML value.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return s
	case []any, map[string]any:
		return pyRepr(v)
	}
	return fmt.Sprint(v)
}

// pyRepr is Python's repr() of strings, lists and dicts (keys sorted, as
// the hashable form is).
func pyRepr(v any) string {
	switch x := v.(type) {
	case string:
		return pyQuote(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeysAny(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyQuote(k) + ": " + pyRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return pyStr(v)
}

func pyQuote(s string) string {
	q := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

var jinjaExprRe = regexp.MustCompile(`^\s*(ref|source|var|env_var)\s*\(.*\)\s*$`)
var jinjaWrappedRe = regexp.MustCompile(`^\s*\{\{(.*)\}\}\s*$`)

// testCall is the template a generic test renders: a call of its macro with
// the arguments as Jinja literals (ref()/source() strings stay calls, as
// dbt evaluates them).
func testCall(name string, args map[string]any) string {
	keys := sortedKeysAny(args)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+jinjaLiteral(args[k]))
	}
	return "{{ test_" + name + "(" + strings.Join(parts, ", ") + ") }}"
}

func jinjaLiteral(v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case bool:
		if x {
			return "true"
		}
		return "false"
	case string:
		if m := jinjaWrappedRe.FindStringSubmatch(x); m != nil {
			return "(" + strings.TrimSpace(m[1]) + ")"
		}
		if jinjaExprRe.MatchString(x) {
			return strings.TrimSpace(x)
		}
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(x) + "'"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = jinjaLiteral(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeysAny(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = jinjaLiteral(k) + ": " + jinjaLiteral(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return pyStr(v)
}

func firstDir(p string) string {
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i+1]
	}
	return ""
}

// dirParts returns the folders of a relative file path.
func dirParts(rel string) []string {
	dir := path.Dir(rel)
	if dir == "." || dir == "" {
		return nil
	}
	return strings.Split(dir, "/")
}

// CheckTestColumns reports generic tests, among ids, on a column their
// model or seed does not have. Seeds are checked against their CSV header;
// models when their compiled select list names its columns (no `*`).
// Compile the models first.
func (c *Compiler) CheckTestColumns(ids []string) error {
	var errs diag.List
	known := map[string][]string{}
	for _, id := range ids {
		n := c.Nodes[id]
		if n == nil || n.Type != Test || !n.Test.Generic || n.Test.Column == "" || n.Test.AttachedNode == "" {
			continue
		}
		parent := c.Nodes[n.Test.AttachedNode]
		cols, ok := known[parent.UniqueID]
		if !ok {
			cols = c.outputColumns(parent)
			known[parent.UniqueID] = cols
		}
		if cols == nil || containsFold(cols, strings.Trim(n.Test.Column, `"`)) {
			continue
		}
		d := diag.At(n.Test.Pos, "test %s: %s %q has no column %q", n.Test.Name, parent.Type, parent.Name, n.Test.Column)
		if s := diag.Closest(n.Test.Column, cols); s != "" {
			d.Hint = fmt.Sprintf("did you mean `%s`?", s)
		} else {
			d.Hint = "columns: " + strings.Join(cols, ", ")
		}
		errs.Add(d)
	}
	return errs.Err()
}

func (c *Compiler) outputColumns(n *Node) []string {
	switch n.Type {
	case Seed:
		f, err := os.Open(c.Project.Abs(n.OriginalFilePath))
		if err != nil {
			return nil
		}
		defer f.Close()
		header, err := csv.NewReader(f).Read()
		if err != nil {
			return nil
		}
		if len(header) > 0 {
			header[0] = strings.TrimPrefix(header[0], "\ufeff")
		}
		return header
	case Model:
		if n.Compiled == "" {
			return nil
		}
		return sqlparse.OutputColumns(n.Compiled)
	}
	return nil
}

func containsFold(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

var (
	refCallRe    = regexp.MustCompile(`\bref\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"]\s*)?(?:,\s*v(?:ersion)?\s*=[^)]*)?\)`)
	sourceCallRe = regexp.MustCompile(`\bsource\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)`)
)

// staticCalls finds the ref() and source() calls in a generic test's
// arguments.
func staticCalls(args map[string]any) []call {
	var out []call
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			for _, m := range refCallRe.FindAllStringSubmatch(x, -1) {
				if m[2] != "" {
					out = append(out, call{kind: callRef, pkg: m[1], name: m[2]})
				} else {
					out = append(out, call{kind: callRef, name: m[1]})
				}
			}
			for _, m := range sourceCallRe.FindAllStringSubmatch(x, -1) {
				out = append(out, call{kind: callSource, name: m[1], tbl: m[2]})
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, k := range sortedKeysAny(x) {
				walk(x[k])
			}
		}
	}
	for _, k := range sortedKeysAny(args) {
		walk(args[k])
	}
	return out
}
