"""How each stage feels: survey answers and tickets attributed to stages."""
