package ingest

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestPipeCopyBlame checks that pipeCopy reports the side that failed
// first, not the other side's reaction to it.
func TestPipeCopyBlame(t *testing.T) {
	ctx := context.Background()
	broken := errors.New("source broke")
	refused := errors.New("warehouse refused row 3")

	// The producer fails on its own: the loader sees the pipe fail.
	n, perr, lerr := pipeCopy(ctx, func(_ context.Context, w io.Writer) error {
		if _, err := io.WriteString(w, "1\n2\n"); err != nil {
			return err
		}
		return broken
	}, func(r io.Reader) (int64, error) {
		b, err := io.ReadAll(r)
		return int64(strings.Count(string(b), "\n")), err
	})
	if !errors.Is(perr, broken) || !errors.Is(lerr, broken) || n != 2 {
		t.Errorf("producer failing: n %d, produceErr %v, loadErr %v", n, perr, lerr)
	}

	// The loader fails on its own: the producer's write error is its
	// reaction and is not reported.
	_, perr, lerr = pipeCopy(ctx, func(_ context.Context, w io.Writer) error {
		for {
			if _, err := io.WriteString(w, "row\n"); err != nil {
				return err
			}
		}
	}, func(r io.Reader) (int64, error) {
		buf := make([]byte, 10)
		if _, err := r.Read(buf); err != nil {
			return 0, err
		}
		return 0, refused
	})
	if perr != nil || !errors.Is(lerr, refused) {
		t.Errorf("loader failing: produceErr %v, loadErr %v", perr, lerr)
	}

	// Both succeed.
	n, perr, lerr = pipeCopy(ctx, func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, "a\nb\nc\n")
		return err
	}, func(r io.Reader) (int64, error) {
		b, err := io.ReadAll(r)
		return int64(strings.Count(string(b), "\n")), err
	})
	if n != 3 || perr != nil || lerr != nil {
		t.Errorf("both succeed: n %d, %v, %v", n, perr, lerr)
	}
}
