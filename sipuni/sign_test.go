package sipuni

import (
	"crypto/md5"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestQueryValue(t *testing.T) {
	tests := []struct {
		raw, key, want string
		found          bool
	}{
		{"a=1&token=x&b=2", "token", "x", true},
		{"token=a%2Bb&token=second", "token", "a+b", true},
		{"tok%65n=y", "token", "y", true},
		{"token", "token", "", true},
		{"tokens=x", "token", "", false},
		{"", "token", "", false},
		{"token=%zz", "token", "%zz", true},
	}
	for _, tt := range tests {
		got, found := queryValue(tt.raw, tt.key)
		assert.Equal(t, tt.want, got, tt.raw)
		assert.Equal(t, tt.found, found, tt.raw)
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestSign(t *testing.T) {
	const secret = "0.1234abcd"
	long := make([]byte, 600)
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	tests := []struct {
		name   string
		params url.Values
		want   string // the string whose MD5 is expected
	}{
		{
			// The documented callback/call_number example: antiaon, phone,
			// reverse, sipnumber, user, then the secret.
			name:   "documented call_number order",
			params: url.Values{"user": {"012345"}, "phone": {"79031234567"}, "sipnumber": {"201"}, "reverse": {"0"}, "antiaon": {"0"}},
			want:   "0+79031234567+0+201+012345+" + secret,
		},
		{
			name:   "hash itself is excluded",
			params: url.Values{"user": {"012345"}, "id": {"1444311063.117599"}, "hash": {"deadbeef"}},
			want:   "1444311063.117599+012345+" + secret,
		},
		{
			name:   "user only (statistic/operators)",
			params: url.Values{"user": {"012345"}},
			want:   "012345+" + secret,
		},
		{
			name:   "empty values count",
			params: url.Values{"user": {"012345"}, "timeFrom": {""}, "from": {"01.03.2026"}, "tree": {""}},
			want:   "01.03.2026++" + "+" + "012345+" + secret, // from, timeFrom, tree, user
		},
		{
			name:   "byte order: upper-case names sort before lower-case",
			params: url.Values{"user": {"012345"}, "phoneTo": {"2"}, "phoneFrom": {"1"}, "sipnumber": {"201"}, "sipnumber2": {"202"}},
			want:   "1+2+201+202+012345+" + secret,
		},
		{
			name:   "values are hashed raw: no lowercasing, no URL encoding, UTF-8",
			params: url.Values{"user": {"012345"}, "voice": {"Anna_n"}, "message": {"Добрый день & до свидания"}, "phone": {"79031234567"}, "sipnumber": {"201"}},
			want:   "Добрый день & до свидания+79031234567+201+012345+Anna_n+" + secret,
		},
		{
			name:   "first value of a repeated name; a name without values is not sent",
			params: url.Values{"user": {"012345"}, "id": {"a", "b"}, "empty": {}},
			want:   "a+012345+" + secret,
		},
		{
			name:   "long values beyond the stack buffer",
			params: url.Values{"user": {"012345"}, "message": {string(long)}},
			want:   string(long) + "+012345+" + secret,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sign(tt.params, secret)
			assert.Equal(t, md5hex(tt.want), got)
			assert.Len(t, got, 32)
		})
	}
}

func TestSignDependsOnSecretAndValues(t *testing.T) {
	p := url.Values{"user": {"012345"}, "id": {"1"}}
	a := Sign(p, "s1")
	assert.NotEqual(t, a, Sign(p, "s2"))
	p.Set("id", "2")
	assert.NotEqual(t, a, Sign(p, "s1"))
	// Leading zeros of the account matter.
	assert.NotEqual(t, Sign(url.Values{"user": {"012345"}}, "s"), Sign(url.Values{"user": {"12345"}}, "s"))
}
