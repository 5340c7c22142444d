// Package cleanup is an undo stack for create paths: each step that makes
// something registers how to unmake it, and the stack runs in reverse order
// unless the whole path succeeded and released it.
//
//	cu := cleanup.Make(func() { os.RemoveAll(dir) })
//	defer cu.Clean()
//	... cu.Add(undoNextStep) ...
//	cu.Release()
package cleanup

// Stack is an undo stack. The zero value is ready to use.
type Stack struct {
	fns      []func()
	released bool
}

// Make returns a stack holding fns.
func Make(fns ...func()) *Stack { return &Stack{fns: fns} }

// Add pushes an undo step.
func (s *Stack) Add(fn func()) { s.fns = append(s.fns, fn) }

// Release disarms the stack: Clean will do nothing.
func (s *Stack) Release() { s.released = true }

// Clean runs the undo steps, last added first, unless released.
func (s *Stack) Clean() {
	if s.released {
		return
	}
	for i := len(s.fns) - 1; i >= 0; i-- {
		s.fns[i]()
	}
	s.fns = nil
}
