package routing

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/pbxkit/pbxkit/phone"
)

// CSV column names read by ReadCSV.
const (
	csvID          = "id"
	csvName        = "name"
	csvPhones      = "phones"
	csvResponsible = "responsible"
)

// ReadCSV reads contacts from a simple CSV file, the kind exported from a
// spreadsheet or a CRM:
//
//	id,name,phones,responsible
//	ЦУ-00001,Альфа,"+7 385 255-74-75; 8 999 123-45-67",101
//	ЦУ-00002,Орлов Александр Владимирович,79833574337,
//
// The first record is the header; it must name the four columns id, name,
// phones and responsible, in any order and any letter case; other columns
// are ignored. The input is UTF-8, with or without a byte order mark. Values
// are trimmed of spaces. The phones field holds any number of numbers
// separated by ";" or "," (a field with a comma must be quoted, as usual in
// CSV); it may be empty. Blank lines are skipped.
//
// A bad record (broken quoting, a wrong number of fields, text that is not
// UTF-8, or a "phone" that is not a telephone number, such as "доб. 5" or
// more than 20 digits) makes
// ReadCSV fail with an error naming its line; no contacts are returned then.
// An input with only a header gives no contacts and no error; an empty input
// is an error.
func ReadCSV(r io.Reader) ([]Contact, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("routing: CSV input is empty, want a header id,name,phones,responsible")
	}
	if err != nil {
		return nil, fmt.Errorf("routing: CSV: %w", err)
	}
	col := map[string]int{csvID: -1, csvName: -1, csvPhones: -1, csvResponsible: -1}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF")
		}
		h = strings.ToLower(strings.TrimSpace(h))
		if j, ok := col[h]; ok {
			if j >= 0 {
				return nil, fmt.Errorf("routing: CSV line 1: column %q appears twice", h)
			}
			col[h] = i
		}
	}
	var missing []string
	for _, name := range []string{csvID, csvName, csvPhones, csvResponsible} {
		if col[name] < 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("routing: CSV line 1: header lacks column(s) %s, want id,name,phones,responsible",
			strings.Join(missing, ", "))
	}
	iID, iName, iPhones, iResp := col[csvID], col[csvName], col[csvPhones], col[csvResponsible]

	var out []Contact
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			// *csv.ParseError names the line.
			return nil, fmt.Errorf("routing: CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		for i, f := range rec {
			if !utf8.ValidString(f) {
				return nil, fmt.Errorf("routing: CSV line %d: field %d is not valid UTF-8", line, i+1)
			}
		}
		c := Contact{
			ID:          strings.TrimSpace(rec[iID]),
			Name:        strings.TrimSpace(rec[iName]),
			Responsible: strings.TrimSpace(rec[iResp]),
		}
		for p := range strings.FieldsFuncSeq(rec[iPhones], isPhoneSep) {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if !isNumber(p) {
				return nil, fmt.Errorf("routing: CSV line %d: phone %q is not a telephone number", line, p)
			}
			c.Phones = append(c.Phones, p)
		}
		out = append(out, c)
	}
}

func isPhoneSep(r rune) bool { return r == ';' || r == ',' }

// csvMaxDigits is the most digits ReadCSV takes in one phone. It is
// stricter than phone.MaxDigits: in a contact list, a longer digit string
// is usually two numbers written without a separator (E.164 allows 15
// digits), which is better reported than stored as one.
const csvMaxDigits = 20

// isNumber reports whether s is written as a telephone number: phone.Normalize
// turns it into at most csvMaxDigits digits.
func isNumber(s string) bool {
	n := phone.Normalize(s)
	return n != "" && len(n) <= csvMaxDigits && allDigits(n)
}
