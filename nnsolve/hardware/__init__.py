"""The machine: node array, PE arrays, buffers, memory placement and costs."""
