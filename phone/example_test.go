package phone_test

import (
	"fmt"

	"github.com/pbxkit/pbxkit/phone"
)

func ExampleNormalize() {
	for _, s := range []string{
		"+7 (495) 123-45-67",
		"8 999 123 45 67",
		"9991234567",
		"sip:+74951234567@1.2.3.4;tgrp=x",
		"101",
		"ivan.petrov",
	} {
		fmt.Println(phone.Normalize(s))
	}
	// Output:
	// 74951234567
	// 79991234567
	// 79991234567
	// 74951234567
	// 101
	// ivan.petrov
}

func ExampleMatch() {
	// The Prostie Zvonki spec's example: 89991234567 with 7 last digits is
	// looked up by 1234567.
	fmt.Println(phone.Suffix("89991234567", 7))
	fmt.Println(phone.Match("89991234567", "+7 (495) 123-45-67", 7))
	fmt.Println(phone.Match("1234567", "+7 (495) 123-45-67", 7))
	// Output:
	// 1234567
	// true
	// false
}

func ExampleIndex() {
	x, err := phone.NewIndex[string](10)
	if err != nil {
		panic(err)
	}
	x.Add("+7 (999) 123-45-67", "ООО Альфа")
	x.Add("8 495 000-11-22", "ИП Гладилина")
	fmt.Println(x.Lookup("89991234567"))
	fmt.Println(x.Lookup("sip:+74950001122@pbx"))
	fmt.Println(x.Lookup("74950000000"))
	// Output:
	// [ООО Альфа]
	// [ИП Гладилина]
	// []
}
