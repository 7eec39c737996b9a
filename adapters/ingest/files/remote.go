package files

import (
	"context"
	"path"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// RemoteTableSpec is the table-level configuration of NewRemoteTable:
// TableSpec and after_load.
var RemoteTableSpec = append(append([]ingest.Field(nil), TableSpec...),
	ingest.Field{Name: "after_load", Type: "map", Level: "table", Doc: "{move_to: done/}: once a load's rows are committed, move the files it read into this folder (relative to the source path, created when missing; a file of the same name there is replaced). The folder is never read by the table."},
)

// NewRemoteTable configures a table of files on a server (sftp, ftp) whose
// source path is the absolute remote folder root: the table-level settings
// of TableSpec plus after_load: {move_to: folder}, read with connector
// named in messages. An absolute path, glob or move_to roots the table at
// the server's root folder "/" instead, the relative ones then spelled from
// there. store makes the server's Mover rooted at a folder.
func NewRemoteTable(ctx context.Context, cfg ingest.Config, connector, root string, store func(root string) Mover) (ingest.Table, error) {
	r := ingest.NewConfigReader(cfg, connector)
	var moveTo string
	if al := r.Nested("after_load"); al != nil {
		al.Only("move_to")
		moveTo = al.Str("move_to", true, "")
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	values := make(map[string]any, len(cfg.Values))
	for k, v := range cfg.Values {
		if k != "after_load" {
			values[k] = v
		}
	}
	tableRoot := root
	p, _ := values["path"].(string)
	g, _ := values["glob"].(string)
	if path.IsAbs(p) || path.IsAbs(g) || path.IsAbs(moveTo) {
		// Root the table at / and spell every path from there.
		tableRoot = "/"
		for _, k := range []string{"path", "glob"} {
			if v, _ := values[k].(string); v != "" && !path.IsAbs(v) {
				values[k] = path.Join(root, v)
			}
		}
		if moveTo != "" && !path.IsAbs(moveTo) {
			moveTo = path.Join(root, moveTo)
		}
	}
	st := store(tableRoot)
	t, err := NewTable(ctx, st, ingest.Config{Values: values, Pos: cfg.Pos})
	if err != nil {
		return nil, err
	}
	if moveTo == "" {
		return t, nil
	}
	return MoveAfterLoad(t, st, moveTo), nil
}
