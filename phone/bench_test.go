package phone

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
)

const benchSize = 1_000_000

// benchNumbers returns n distinct Russian mobile numbers in assorted written
// forms, deterministically.
func benchNumbers(n int) []string {
	out := make([]string, n)
	for i := range out {
		sub := strconv.Itoa(1_000_000 + (i*7919)%9_000_000)
		op := strconv.Itoa(900 + i%100)
		switch i % 3 {
		case 0:
			out[i] = "+7 (" + op + ") " + sub[:3] + "-" + sub[3:5] + "-" + sub[5:]
		case 1:
			out[i] = "8" + op + sub
		default:
			out[i] = "7" + op + sub
		}
	}
	return out
}

var (
	benchIndex *Index[int32]
	benchNums  []string
)

func benchSetup(b *testing.B) (*Index[int32], []string) {
	if benchIndex == nil {
		benchNums = benchNumbers(benchSize)
		x, err := NewIndex[int32](DefaultLastDigits)
		if err != nil {
			b.Fatal(err)
		}
		for i, s := range benchNums {
			x.Add(s, int32(i))
		}
		benchIndex = x
	}
	return benchIndex, benchNums
}

// BenchmarkIndexLookup looks up incoming numbers (in the "8..." form a PBX
// often sends) in a directory of 1,000,000 numbers.
func BenchmarkIndexLookup(b *testing.B) {
	x, nums := benchSetup(b)
	incoming := make([]string, 1024)
	for i := range incoming {
		incoming[i] = "8" + Suffix(nums[(i*977)%len(nums)], 10)
	}
	b.ReportAllocs()
	b.ResetTimer()
	found := 0
	for i := 0; i < b.N; i++ {
		found += len(x.Lookup(incoming[i&1023]))
	}
	if found < b.N {
		b.Fatalf("found %d of %d", found, b.N)
	}
}

// BenchmarkIndexLookupMiss looks up numbers that are not in the directory.
func BenchmarkIndexLookupMiss(b *testing.B) {
	x, _ := benchSetup(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(x.Lookup("+7 (812) 000-00-00")) != 0 {
			b.Fatal("unexpected match")
		}
	}
}

// BenchmarkIndexBuild builds an index of 1,000,000 numbers and reports the
// heap it holds per entry.
func BenchmarkIndexBuild(b *testing.B) {
	nums := benchNumbers(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	var perEntry float64
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		x, _ := NewIndex[int32](DefaultLastDigits)
		for j, s := range nums {
			x.Add(s, int32(j))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(nums))
		runtime.KeepAlive(x)
	}
	b.ReportMetric(perEntry, "heap-B/entry")
}

// BenchmarkLinearScan is the baseline: what a CRM query with
// LIKE '%1234567' does, comparing the incoming number with every stored
// number. Compare its ns/op with BenchmarkIndexLookup.
func BenchmarkLinearScan(b *testing.B) {
	_, nums := benchSetup(b)
	// Pre-normalised, as a CRM column would be, so only the scan is timed.
	stored := make([]string, len(nums))
	for i, s := range nums {
		stored[i] = Normalize(s)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in := Suffix("8"+Suffix(stored[(i*977)%len(stored)], 10), 10)
		found := 0
		for _, s := range stored {
			if len(s) >= len(in) && s[len(s)-len(in):] == in {
				found++
			}
		}
		if found == 0 {
			b.Fatal("not found")
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	for _, in := range []string{"79991234567", "+7 (999) 123-45-67", "sip:+74951234567@1.2.3.4;tgrp=x"} {
		b.Run(fmt.Sprintf("%q", in), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_ = Normalize(in)
			}
		})
	}
}
