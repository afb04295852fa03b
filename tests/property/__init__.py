"""Property-based tests of the six compilers (issue #12): generated Sigma values x modifiers x field
kinds x every target, judged by a reference implementation of Sigma value semantics."""
