package benchhost

import (
	"math"
	"testing"
)

func TestMedianSpread(t *testing.T) {
	for _, tc := range []struct {
		xs            []float64
		med, min, max float64
	}{
		{[]float64{3}, 3, 3, 3},
		{[]float64{5, 1, 3}, 3, 1, 5},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
	} {
		if got := Median(tc.xs); got != tc.med {
			t.Errorf("Median(%v) = %v, want %v", tc.xs, got, tc.med)
		}
		if lo, hi := Spread(tc.xs); lo != tc.min || hi != tc.max {
			t.Errorf("Spread(%v) = %v, %v, want %v, %v", tc.xs, lo, hi, tc.min, tc.max)
		}
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}
}
