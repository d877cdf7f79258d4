//go:build race

package fakewa_test

// raceEnabled is set when tests run under the race detector.
const raceEnabled = true
