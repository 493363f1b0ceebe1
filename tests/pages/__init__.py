"""Page tests: the real app under Streamlit AppTest (see conftest.py)."""
