"""cocotb benches and simulator helpers."""
