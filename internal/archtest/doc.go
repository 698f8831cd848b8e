// Package archtest holds Latchkey's architecture tests: the direction of imports
// between packages (DESIGN.md, STYLE.md) and the rule that every package says in
// its doc comment what it owns. It has no code of its own.
package archtest
