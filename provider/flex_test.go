package provider

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFlexString(t *testing.T) {
	tests := []struct {
		in      string
		want    String
		wantErr bool
	}{
		{`"abc"`, "abc", false},
		{`79991234567`, "79991234567", false},
		{`-1.5`, "-1.5", false},
		{`true`, "true", false},
		{`null`, "", false},
		{`"\u0416"`, "Ж", false},
		{`{}`, "", true},
		{`[1]`, "", true},
	}
	for _, tt := range tests {
		var v struct{ S String }
		err := json.Unmarshal([]byte(`{"S":`+tt.in+`}`), &v)
		if tt.wantErr {
			assert.Error(t, err, tt.in)
			continue
		}
		assert.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, v.S, tt.in)
	}
}

func TestFlexInt(t *testing.T) {
	tests := []struct {
		in      string
		want    Int
		wantErr bool
	}{
		{`42`, 42, false},
		{`"42"`, 42, false},
		{`" 42 "`, 42, false},
		{`"0"`, 0, false},
		{`""`, 0, false},
		{`null`, 0, false},
		{`42.0`, 42, false},
		{`-7`, -7, false},
		{`42.5`, 0, true},
		{`"abc"`, 0, true},
		{`true`, 0, true},
		{`{}`, 0, true},
	}
	for _, tt := range tests {
		var v struct{ N Int }
		err := json.Unmarshal([]byte(`{"N":`+tt.in+`}`), &v)
		if tt.wantErr {
			assert.Error(t, err, tt.in)
			continue
		}
		assert.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, v.N, tt.in)
	}
}

func TestFlexBool(t *testing.T) {
	tests := []struct {
		in      string
		want    Bool
		wantErr bool
	}{
		{`true`, true, false},
		{`false`, false, false},
		{`"true"`, true, false},
		{`"TRUE"`, true, false},
		{`"1"`, true, false},
		{`1`, true, false},
		{`0`, false, false},
		{`"false"`, false, false},
		{`""`, false, false},
		{`null`, false, false},
		{`"maybe"`, false, true},
		{`2`, false, true},
	}
	for _, tt := range tests {
		var v struct{ B Bool }
		err := json.Unmarshal([]byte(`{"B":`+tt.in+`}`), &v)
		if tt.wantErr {
			assert.Error(t, err, tt.in)
			continue
		}
		assert.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, v.B, tt.in)
	}
}

func FuzzFlexTypes(f *testing.F) {
	for _, s := range []string{`"42"`, `42`, `null`, `"TRUE"`, `1e400`, `"4\u0032"`, `42.000`, `-`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s String
		var n Int
		var b Bool
		// Only "no panic" and "a valid JSON string round-trips" are checked:
		// the tables above pin the accepted forms.
		if json.Unmarshal([]byte(in), &s) == nil {
			var plain string
			if json.Unmarshal([]byte(in), &plain) == nil && string(s) != plain {
				t.Fatalf("String(%s) = %q, want %q", in, s, plain)
			}
		}
		_ = json.Unmarshal([]byte(in), &n)
		_ = json.Unmarshal([]byte(in), &b)
	})
}

func TestFlexStringAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range []string{`"plain"`, `"кириллица"`, `"a\"b"`, `"tab\tx"`, `"\u0041"`, "\"bad\xff\"", `"a\\b"`, `""`} {
		var flex String
		var plain string
		errPlain := json.Unmarshal([]byte(in), &plain)
		errFlex := json.Unmarshal([]byte(in), &flex)
		assert.Equal(t, errPlain == nil, errFlex == nil, in)
		assert.Equal(t, plain, string(flex), in)
	}
}

func BenchmarkFlexString(b *testing.B) {
	in := []byte(`{"a":"sip:79771234567@example_domain.ru","b":"2018-04-23 15:01:27.214"}`)
	var v struct{ A, B String }
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := json.Unmarshal(in, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false},
		{"95", 95 * time.Second, false},
		{" 95 ", 95 * time.Second, false},
		{"95.0", 95 * time.Second, false},
		{"1:02:03", time.Hour + 2*time.Minute + 3*time.Second, false},
		{"02:03", 2*time.Minute + 3*time.Second, false},
		{"-1", 0, true},
		{"1::3", 0, true},
		{"1:2:3:4", 0, true},
		{"abc", 0, true},
		{"99999999999", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSeconds(tt.in)
		if tt.wantErr {
			assert.Error(t, err, tt.in)
			continue
		}
		assert.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestParseUnix(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	for in, want := range map[string]time.Time{
		"1714554000":    time.Unix(1714554000, 0),
		"1714554000123": time.UnixMilli(1714554000123),
	} {
		got, ok := ParseUnix(in, msk)
		assert.True(t, ok, in)
		assert.True(t, want.Equal(got), in)
		assert.Equal(t, msk, got.Location(), in)
	}
	for _, in := range []string{"", "0", "-5", "x", "171455400012345"} {
		_, ok := ParseUnix(in, msk)
		assert.False(t, ok, in)
	}
}
