package main

import "testing"

func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{nil, 50, 0},
		{[]float64{3}, 90, 3},
		{[]float64{4, 1, 3, 2}, 50, 2.5},
		{[]float64{5, 1, 3}, 50, 3},
		{[]float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 90, 9},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 90, 10},
	} {
		if got := percentile(tc.xs, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.xs, tc.p, got, tc.want)
		}
	}
}
