"""Exporting trained models: GGUF files for llama.cpp, uploads to the Hugging Face hub."""
