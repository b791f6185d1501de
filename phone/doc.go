// Package phone normalises telephone numbers and matches them by their last
// digits, the way Russian PBX integrations look up callers.
//
// [Normalize] turns what PBXs and people write ("+7 (495) 123-45-67",
// "84951234567", "sip:+74951234567@1.2.3.4;tgrp=x") into one canonical digit
// string ("74951234567"), keeps short internal numbers (extensions) as they
// are and returns logins unchanged. A [Normalizer] does the same for another
// country's numbering plan. Text with more than [MaxDigits] digits is not a
// telephone number, whatever else it holds: it normalises to "", so a
// number of absurd length never travels further as a caller's number.
//
// [Match] and [Suffix] state the caller-lookup rule of the Prostie Zvonki
// integration spec: with n the "number of last digits" setting, an incoming
// number longer than n digits matches a stored number whose last n digits are
// the same; an incoming number of n digits or fewer matches only a stored
// number equal to it. [Index] applies that rule to a whole directory in O(1)
// per lookup, without allocating.
package phone
