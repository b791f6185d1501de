package routing

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

func seedDirectory(t testing.TB) *MemoryDirectory {
	t.Helper()
	d, err := NewMemoryDirectory([]Contact{
		{ID: "1", Name: "Альфа", Phones: []string{"73852557475"}, Responsible: "101"},
		{ID: "2", Name: "Орлов Александр Владимирович", Phones: []string{"79833574337"}},
		// Partner and its contact person: one has the manager.
		{ID: "3", Name: "Альфа-Протон", Phones: []string{"84951110000"}, Responsible: "102"},
		{ID: "4", Name: "Гладилина Вера Михайловна", Phones: []string{"+7 495 111-00-00"}},
		// Two partners with different managers on one number.
		{ID: "5", Name: "Ассоль", Phones: []string{"74952220000"}, Responsible: "103"},
		{ID: "6", Name: "Альтаир", Phones: []string{"74952220000"}, Responsible: "104"},
		// Two records of one client (same name), different managers.
		{ID: "7", Name: "Балабанова Наталья Игнатьевна", Phones: []string{"74953330000"}, Responsible: "105"},
		{ID: "8", Name: "Балабанова Наталья Игнатьевна", Phones: []string{"74953330000"}, Responsible: "106"},
		// Two records, same manager, different names.
		{ID: "9", Name: "АвтБанк", Phones: []string{"74954440000"}, Responsible: "107"},
		{ID: "10", Name: "АвтБанк АКБ", Phones: []string{"74954440000"}, Responsible: "107"},
		// No name.
		{ID: "11", Phones: []string{"74955550000"}, Responsible: "108"},
		// Two contacts without managers sharing a name.
		{ID: "12", Name: "Ромашка", Phones: []string{"74956660000"}},
		{ID: "13", Name: "Ромашка", Phones: []string{"74956660000"}},
	}, 10)
	require.NoError(t, err)
	return d
}

func TestResponsible(t *testing.T) {
	d := seedDirectory(t)
	tests := []struct {
		name  string
		opts  []ResponsibleOption
		phone string
		want  pbx.Route
	}{
		{"responsible", nil, "83852557475", pbx.Route{Extension: "101", DisplayName: "Альфа"}},
		{"responsible, translit", []ResponsibleOption{WithTranslit()}, "83852557475", pbx.Route{Extension: "101", DisplayName: "Alfa"}},
		{"no responsible, no default", nil, "79833574337", pbx.Route{}},
		{"no responsible, default", []ResponsibleOption{WithDefault("204")}, "79833574337",
			pbx.Route{Extension: "204", DisplayName: "Орлов Александр Владимирович"}},
		{"no responsible, default, translit, cut", []ResponsibleOption{WithDefault("204"), WithTranslit(), WithMaxNameLen(12)}, "79833574337",
			pbx.Route{Extension: "204", DisplayName: "Orlov Aleksa"}},
		{"cut drops the trailing space", []ResponsibleOption{WithDefault("204"), WithMaxNameLen(6)}, "79833574337",
			pbx.Route{Extension: "204", DisplayName: "Орлов"}},
		{"long name not cut without the option", []ResponsibleOption{WithDefault("204"), WithMaxNameLen(0)}, "79833574337",
			pbx.Route{Extension: "204", DisplayName: "Орлов Александр Владимирович"}},
		{"contact person without manager does not hide the partner's", nil, "74951110000",
			pbx.Route{Extension: "102", DisplayName: "Альфа-Протон"}},
		{"different responsibles, no default", nil, "74952220000", pbx.Route{}},
		{"different responsibles, default, names differ", []ResponsibleOption{WithDefault("204")}, "74952220000",
			pbx.Route{Extension: "204"}},
		{"different responsibles, default, one name", []ResponsibleOption{WithDefault("204")}, "74953330000",
			pbx.Route{Extension: "204", DisplayName: "Балабанова Наталья Игнатьевна"}},
		{"same responsible, names differ", nil, "74954440000", pbx.Route{Extension: "107"}},
		{"no name", nil, "74955550000", pbx.Route{Extension: "108"}},
		{"no responsibles, shared name", []ResponsibleOption{WithDefault("204")}, "74956660000",
			pbx.Route{Extension: "204", DisplayName: "Ромашка"}},
		{"unknown, no default", nil, "79990000000", pbx.Route{}},
		{"unknown, default", []ResponsibleOption{WithDefault("204")}, "79990000000", pbx.Route{Extension: "204"}},
		{"hidden number, default", []ResponsibleOption{WithDefault("204")}, "", pbx.Route{Extension: "204"}},
		{"nil option ignored", []ResponsibleOption{nil, WithDefault("204")}, "", pbx.Route{Extension: "204"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Responsible(d, tt.opts...).Route(context.Background(), pbx.RouteQuery{Phone: tt.phone})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestResponsibleContextAndErrors(t *testing.T) {
	d := seedDirectory(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := Responsible(d, WithDefault("204")).Route(ctx, pbx.RouteQuery{Phone: "83852557475"})
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, got.IsZero())

	errDown := errors.New("1C is down")
	failing := DirectoryFunc(func(context.Context, string) ([]Contact, error) { return nil, errDown })
	got, err = Responsible(failing, WithDefault("204")).Route(context.Background(), pbx.RouteQuery{Phone: "83852557475"})
	assert.ErrorIs(t, err, errDown)
	assert.True(t, got.IsZero())

	// A directory that honours ctx makes Responsible return by the deadline.
	slow := DirectoryFunc(func(ctx context.Context, _ string) ([]Contact, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
			return nil, nil
		}
	})
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Responsible(slow).Route(ctx, pbx.RouteQuery{Phone: "83852557475"})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)

	// A nil directory finds nobody.
	got, err = Responsible(nil, WithDefault("204")).Route(context.Background(), pbx.RouteQuery{Phone: "83852557475"})
	require.NoError(t, err)
	assert.Equal(t, pbx.Route{Extension: "204"}, got)
}

func TestResponsibleLogsAmbiguity(t *testing.T) {
	d := seedDirectory(t)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err := Responsible(d, WithDefault("204"), WithLogger(log)).Route(context.Background(), pbx.RouteQuery{Phone: "74952220000"})
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "different responsibles")
	assert.Contains(t, buf.String(), "contacts=2")
}

func TestResponsibleAllocs(t *testing.T) {
	d := seedDirectory(t)
	ctx := context.Background()
	q := pbx.RouteQuery{Phone: "83852557475"}
	for _, tt := range []struct {
		name string
		r    pbx.Router
		want float64
	}{
		{"plain", Responsible(d), 0},
		{"default and cut", Responsible(d, WithDefault("204"), WithMaxNameLen(3)), 0},
		{"translit", Responsible(d, WithTranslit()), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var route pbx.Route
			allocs := testing.AllocsPerRun(200, func() { route, _ = tt.r.Route(ctx, q) })
			assert.Equal(t, tt.want, allocs)
			assert.Equal(t, "101", route.Extension)
		})
	}
}

func TestCutRunes(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"Альфа", 3, "Аль"},
		{"Альфа", 5, "Альфа"},
		{"Альфа", 10, "Альфа"},
		{"ab cd", 3, "ab"},
		{"ab  cd", 4, "ab"},
		{"abc", 3, "abc"},
		{"", 3, ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, cutRunes(tt.in, tt.n), "%q/%d", tt.in, tt.n)
	}
}
