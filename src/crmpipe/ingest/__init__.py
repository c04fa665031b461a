"""Reading source files into `raw.<source>`: dialect sniffing, reading, manifest and rejects."""
