package routing

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestTranslit(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// Names from the seeds.
		{"Орлов Александр Владимирович", "Orlov Aleksandr Vladimirovich"},
		{"Балабанова Наталья Игнатьевна", "Balabanova Natalia Ignatevna"},
		{"Гладилина Вера Михайловна", "Gladilina Vera Mikhailovna"},
		{"Гладиллина Вера Михайловна", "Gladillina Vera Mikhailovna"},
		{"Альфа", "Alfa"},
		{"Альфа-Протон", "Alfa-Proton"},
		{"АвтБанк АКБ", "AvtBank AKB"},
		{"Алхимов А.А.", "Alkhimov A.A."},
		{`База "Мебель"`, `Baza "Mebel"`},
		{"Ассоль", "Assol"},
		// The table, letter by letter.
		{"абвгдеёжзийклмнопрстуфхцчшщъыьэюя", "abvgdeezhziiklmnoprstufkhtschshshchieyeiuia"},
		{"АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ", "ABVGDEEZHZIIKLMNOPRSTUFKHTSCHSHSHCHIEYEIUIA"},
		// Case of letters written with several Latin letters.
		{"Щукин", "Shchukin"},
		{"ЩУКИН", "SHCHUKIN"},
		{"щукин", "shchukin"},
		{"Юлия", "Iuliia"},
		{"ЮЛИЯ", "IULIIA"},
		{"КЛЮЧ", "KLIUCH"},
		{"Ключ", "Kliuch"},
		{"Ж.", "Zh."},
		{"Жуков Ж. Ж.", "Zhukov Zh. Zh."},
		{"ООО ЖЖ", "OOO ZHZH"},
		{"ИЛЬЯ", "ILIA"},
		{"ОБЪЕКТ", "OBIEEKT"},
		{"объект", "obieekt"},
		{"Подъезд", "Podieezd"},
		{"Ёлкин", "Elkin"},
		{"Хабаровск", "Khabarovsk"},
		{"Цой", "Tsoi"},
		{"Чехов", "Chekhov"},
		{"Шишкин", "Shishkin"},
		{"Эдуард", "Eduard"},
		{"Яна", "Iana"},
		{"Цветы для ЦУМ", "Tsvety dlia TSUM"},
		// Untouched.
		{"", ""},
		{"Ivan Petrov 101", "Ivan Petrov 101"},
		{"+7 (999) 123-45-67", "+7 (999) 123-45-67"},
		{"Київ", "Kiїv"}, // only the Russian alphabet is transliterated
		{"Ω ☎ 中文", "Ω ☎ 中文"},
		{"Иван\xffИван", "Ivan\uFFFDIvan"},
		{"\xd0ь\x840", "\uFFFD\uFFFD0"}, // found by FuzzTranslit: ь joined stray bytes
		{"abc\xff", "abc\uFFFD"},
		{"ООО «Ромашка»", "OOO «Romashka»"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, Translit(tt.in))
		})
	}
}

func TestTranslitASCIIDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		_ = Translit("Ivan Petrov, OOO Alfa")
	})
	assert.Zero(t, allocs)
	allocs = testing.AllocsPerRun(100, func() {
		_ = Translit("Орлов Александр Владимирович")
	})
	assert.Equal(t, 1.0, allocs)
}

func FuzzTranslit(f *testing.F) {
	for _, s := range []string{"Щукин", "ЩУКИН", "Альфа", "ИЛЬЯ", "Ж.", "a\xd0", "\xd1\x8f", "Ёё"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Translit(s)
		if again := Translit(got); again != got {
			t.Fatalf("Translit(%q) = %q still has Russian letters: %q", s, got, again)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("Translit(%q) = %q is not valid UTF-8", s, got)
		}
		// Every non-Russian rune survives, in order.
		keep := func(x string) string {
			return strings.Map(func(r rune) rune {
				if _, _, ok := russian(r); ok || (r < utf8.RuneSelf && unicode.IsLetter(r)) {
					return -1
				}
				return r
			}, x)
		}
		if keep(strings.ToValidUTF8(s, "\uFFFD")) != keep(got) {
			t.Fatalf("Translit(%q) = %q changed other characters", s, got)
		}
	})
}
