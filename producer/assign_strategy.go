package producer

// Assignment strategies.
const (
	strategyRoundRobin = "round_robin"
	strategyWeighted   = "weighted"
)

// assignReps returns, for each of n leads in order, the index of its rep.
//
// round_robin deals leads to reps in turn: lead i gets rep i mod len(reps).
//
// weighted is smooth weighted round robin, as nginx balances upstreams: for
// each lead every rep's running score grows by its weight, the rep with the
// highest score (the first one on a tie) gets the lead, and its score drops by
// the sum of the weights. Over any run of sum(weights) leads each rep gets
// exactly its weight, spread out rather than in blocks: weights 5, 1, 1 give
// a a b a c a a. The mapping depends only on the weights and the lead order,
// so the same request always assigns the same way.
func assignReps(n int, strategy string, weights []int) []int {
	out := make([]int, n)
	if len(weights) == 0 {
		return out
	}
	if strategy != strategyWeighted {
		for i := range out {
			out[i] = i % len(weights)
		}
		return out
	}
	total := 0
	for _, w := range weights {
		total += w
	}
	score := make([]int, len(weights))
	for i := range out {
		best := 0
		for r, w := range weights {
			score[r] += w
			if score[r] > score[best] {
				best = r
			}
		}
		score[best] -= total
		out[i] = best
	}
	return out
}
