"""Running the app for many users: uploads, the doctor, and the load test with its Streamlit
websocket client.
"""
