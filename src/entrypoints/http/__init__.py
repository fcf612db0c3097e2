"""HTTP: the Quart routes, the fast lane in front of them, and the answers both give."""
