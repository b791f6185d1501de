package routing

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Contact
	}{
		{
			name: "seed names, phones separated by ; and quoted ,",
			in: "id,name,phones,responsible\n" +
				"ЦУ-00001,Альфа,\"+7 (385) 255-74-75, 8 999 123-45-67\",101\n" +
				"ЦУ-00002,Орлов Александр Владимирович,79833574337;89991112233,\n" +
				"ЦУ-00003,\"Балабанова Наталья Игнатьевна\",,102\n",
			want: []Contact{
				{ID: "ЦУ-00001", Name: "Альфа", Phones: []string{"+7 (385) 255-74-75", "8 999 123-45-67"}, Responsible: "101"},
				{ID: "ЦУ-00002", Name: "Орлов Александр Владимирович", Phones: []string{"79833574337", "89991112233"}},
				{ID: "ЦУ-00003", Name: "Балабанова Наталья Игнатьевна", Responsible: "102"},
			},
		},
		{
			name: "BOM, CRLF, columns reordered and in capitals, extra column, blank line, spaces",
			in: "\uFEFFResponsible,Phones,Name,ID,Comment\r\n" +
				"\r\n" +
				" 204 , 8 (383) 000-00-01 ; ;,  Гладилина Вера Михайловна ,7,VIP\r\n",
			want: []Contact{
				{ID: "7", Name: "Гладилина Вера Михайловна", Phones: []string{"8 (383) 000-00-01"}, Responsible: "204"},
			},
		},
		{
			name: "header only",
			in:   "id,name,phones,responsible\n",
			want: nil,
		},
		{
			name: "no final newline, sip uri and extension",
			in:   "id,name,phones,responsible\n1,Ivan,sip:+74951234567@pbx;101,200",
			want: []Contact{{ID: "1", Name: "Ivan", Phones: []string{"sip:+74951234567@pbx", "101"}, Responsible: "200"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadCSV(strings.NewReader(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReadCSVErrors(t *testing.T) {
	const h = "id,name,phones,responsible\n"
	tests := []struct {
		name string
		in   string
		want string // substring of the error
	}{
		{"empty", "", "empty"},
		{"missing columns", "id,name\n1,a\n", "lacks column(s) phones, responsible"},
		{"duplicate column", "id,name,phones,responsible,ID\n", `line 1: column "id" appears twice`},
		{"bad phone", h + "1,a,79991234567\n2,b,доб. 5,101\n", "record on line 2"},
		{"bad phone named", h + "1,a,79991234567,\n2,b,доб. 5,101\n", `line 3: phone "доб. 5"`},
		{"two numbers glued", h + "1,a,7999123456784951234567,\n", "line 2: phone"},
		{"twenty-one digits", h + "1,a,123456789012345678901,\n", "line 2: phone"},
		{"too few fields", h + "1,a,79991234567,101\n2,b\n", "line 3"},
		{"broken quote", h + "1,\"a,79991234567,101\n", "line 2"},
		{"bare quote", h + "1,a\"b,79991234567,101\n", "line 2"},
		{"invalid utf-8", h + "1,\xff\xfe,79991234567,101\n", "line 2: field 2 is not valid UTF-8"},
		{"symbols only", h + "\n\n1,a,(),101\n", `line 4: phone "()"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadCSV(strings.NewReader(tt.in))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Nil(t, got)
		})
	}
}

// writeCSV writes contacts in the format ReadCSV reads.
func writeCSV(t testing.TB, contacts []Contact) string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	require.NoError(t, w.Write([]string{"id", "name", "phones", "responsible"}))
	for _, c := range contacts {
		require.NoError(t, w.Write([]string{c.ID, c.Name, strings.Join(c.Phones, ";"), c.Responsible}))
	}
	w.Flush()
	require.NoError(t, w.Error())
	return buf.String()
}

func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"id,name,phones,responsible\n1,Альфа,\"+7 (385) 255-74-75, 89991234567\",101\n",
		"\uFEFFid,name,phones,responsible\r\n2,Орлов,79833574337;,\r\n",
		"responsible,phones,name,id\n,,,\n",
		"id,name,phones,responsible\n1,\"a\"\"b\",101,\n",
		"id,name\n",
		"",
		"id,name,phones,responsible\n1,\"a,101,\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		contacts, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			if contacts != nil {
				t.Fatalf("error %v with contacts", err)
			}
			return
		}
		for _, c := range contacts {
			for _, s := range []string{c.ID, c.Name, c.Responsible} {
				if s != strings.TrimSpace(s) || !utf8.ValidString(s) {
					t.Fatalf("field %q not trimmed or not UTF-8", s)
				}
			}
			for _, p := range c.Phones {
				if !isNumber(p) || strings.ContainsAny(p, ";,") {
					t.Fatalf("phone %q is not a number", p)
				}
			}
		}
		// What was read writes back and reads again the same, except that
		// carriage returns inside quoted fields become newlines.
		again, err := ReadCSV(strings.NewReader(writeCSV(t, contacts)))
		if err != nil {
			t.Fatalf("re-reading written contacts: %v", err)
		}
		if len(again) != len(contacts) {
			t.Fatalf("re-read %d contacts, want %d", len(again), len(contacts))
		}
		for i := range again {
			a, b := again[i], contacts[i]
			if a.ID != b.ID || a.Responsible != b.Responsible || len(a.Phones) != len(b.Phones) {
				t.Fatalf("re-read %+v, want %+v", a, b)
			}
		}
		// Whatever it read builds a directory.
		if _, err := NewMemoryDirectory(contacts, 10); err != nil {
			t.Fatal(err)
		}
	})
}
