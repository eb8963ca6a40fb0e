"""A local stand-in for an OpenAI-compatible server, on 127.0.0.1, for backend tests.

It answers chat completions deterministically from what it was asked, and records the requests.
"""
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubServer:
    def __init__(self):
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if self.path != "/v1/chat/completions":
                    self.send_response(404)
                    self.end_headers()
                    return
                reply = stub.reply(body["messages"][-1]["content"], body.get("seed", 0))
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def reply(prompt: str, seed: int) -> str:
        if "Winner: <1, 2 or tie>" in prompt:
            return StubServer.pairwise(prompt)
        if "Score: <1-5>" in prompt:
            return StubServer.grade(prompt)
        if "Write only the question" in prompt:   # a passage's question: its own first words
            passage = prompt.rsplit("Text:\n", 1)[-1].split("\n\nWrite", 1)[0]   # after the worked example
            return f"What does the text say about {' '.join(re.findall(r'[A-Za-z0-9]+', passage)[:8])}?"
        if "questions" in prompt and "one question per line" in prompt.lower():
            first_words = " ".join(re.findall(r"\w+", prompt.split("Text:")[-1])[:3]) or "this"
            return "\n".join(f"{i}. What does the text say about {first_words} (part {seed}-{i})?" for i in (1, 2, 3))
        if "Rewrite" in prompt:
            first = re.findall(r"Customer: (.*)", prompt)[0]
            return f"Question: {first}\nAnswer: Here is a clean answer to that, written by the stub."
        if "Question:" in prompt:   # the chunk's own first words: a grounded answer
            chunk = prompt.split("Text:\n", 1)[-1].split("Answer the customer", 1)[0] if "Text:" in prompt else ""
            return "Answer: From the text: " + " ".join(chunk.split()[:24]) + "."
        return "I am a stub."

    @staticmethod
    def grade(prompt: str) -> str:
        """A scripted judge: a reference-guided grade is 5 for the reference's words and 2 otherwise;
        a rubric grade grows with the answer's length (1 + words // 8, at most 5). An answer
        containing UNREADABLE gets a reply without a score."""
        answer = re.search(r"(?:Answer|Answer to grade):\n(.*?)\n\n", prompt, re.S).group(1)
        if "UNREADABLE" in answer:
            return "This answer is hard to judge, I would say fairly good overall."
        if "Reference answer (correct):" in prompt:
            reference = re.search(r"Reference answer \(correct\):\n(.*?)\n\n", prompt, re.S).group(1)
            return "Score: 5\nReason: says what the reference says." if answer.strip() == reference.strip() else \
                "Score: 2\nReason: differs from the reference."
        words = len(answer.split())
        return f"Score: {min(5, 1 + words // 8)}\nReason: the answer has {words} words."

    @staticmethod
    def pairwise(prompt: str) -> str:
        """A scripted pairwise judge: the longer answer wins; answers marked FIRST make it always
        pick the first one shown (a position bias the two orders reveal)."""
        one = re.search(r"Answer 1:\n(.*?)\n\nAnswer 2:", prompt, re.S).group(1)
        two = re.search(r"Answer 2:\n(.*?)\n\nWhich answer", prompt, re.S).group(1)
        if "FIRST" in one and "FIRST" in two:
            return "Winner: 1\nReason: the first one reads better."
        if len(one.split()) == len(two.split()):
            return "Winner: tie\nReason: equally good."
        return f"Winner: {1 if len(one.split()) > len(two.split()) else 2}\nReason: more complete."

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
