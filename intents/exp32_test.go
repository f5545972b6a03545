package intents

import (
	"math"
	"testing"
)

func TestExp32(t *testing.T) {
	for x := float32(-90); x <= 0; x += 0.0137 {
		want := math.Exp(float64(x))
		got := float64(exp32(x))
		if x < -80 {
			if math.Abs(got-want) > 1e-34 {
				t.Fatalf("exp32(%g) = %g, want %g", x, got, want)
			}
			continue
		}
		if rel := math.Abs(got-want) / want; rel > 5e-6 {
			t.Fatalf("exp32(%g) = %g, want %g (relative error %g)", x, got, want, rel)
		}
	}
	s := []float32{1, 2, 3, -50}
	softmax32(s)
	sum := float32(0)
	for _, p := range s {
		sum += p
	}
	if math.Abs(float64(sum)-1) > 1e-6 || s[2] < s[1] || s[1] < s[0] {
		t.Fatalf("softmax32 = %v", s)
	}
}
