fn main() { /* CLI enabled once src/task lands */ }
