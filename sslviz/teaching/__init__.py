"""What the app says and shows to a class: method cards, the model's answers to pretext tasks,
and the pretrained zoo that ships with the app.
"""
