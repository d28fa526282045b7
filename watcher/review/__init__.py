"""`digitwatch review`: a local web page where a person checks doubtful rows and corrects them.

- `queue`: which results rows need a person, and what they were corrected to;
- `spot`: why a row is queued, and which sure `ok` rows a spot check draws;
- `agreement`: what the corrections say of the model (agreement, confusion, sure answers found wrong);
- `report`: the HTML report of the results and the corrections (the `report` extra);
- `pictures`: the file as a thumbnail, and the 28x28 image the model saw;
- `app`: the FastAPI application, its pages and its guards;
- `server`: runs the application with uvicorn until stopped.

FastAPI, uvicorn and Jinja2 come with the `review` extra.
"""
