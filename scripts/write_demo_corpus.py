"""Write the demo dialogue corpus (an artist and a scientist) from a seeded hand-written grammar.

Every sentence comes from the templates and word lists below, written for this project.
Output: data/demo-corpus/train.txt and val.txt, one message per line, `[role] text`.
Usage: .venv/bin/python scripts/write_demo_corpus.py [--out DIR] [--seed N] [--train-kb N]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from ghosts_render.config import DEFAULT_PROMPTS  # noqa: E402  (stdlib-only module)

ROLES = ("artist", "scientist")
IMAGE_TAG = "[image]"
IMAGE_RATE = 0.06  # share of lines that carry a selfie (sampling roughly doubles it)
REPEAT_RATE = 0.20  # share of turns where the same speaker writes again
MORE_SENTENCE_RATES = (0.75, 0.35)  # chance of a 2nd, then a 3rd sentence (mean text ~64 chars)
CHECK_IN_RATE = 0.035  # share of lines that are one of the default prompts

_WORDS: dict[str, str] = {
    # shared
    "ghost": (
        "a ghost|a ghost of data|an echo|a copy of a copy|a trace|a shadow|a rumour|"
        "a leftover|a reflection|a pale version of someone"
    ),
    "mem": (
        "memory|a memory|the memory of a room|an old message|the first message|"
        "a lost afternoon|a birthday|a voice note|a childhood|a forgotten password"
    ),
    "others": (
        "the visitors|strangers|the people in the data|my grandparents|the dead|the others|"
        "the night guards|the children in the gallery|the ones who left|our friends|"
        "the museum guards|the old users"
    ),
    "time": (
        "last night|this morning|a long time ago|yesterday|in the winter|"
        "before the exhibition|every night|at four in the morning|for a while|"
        "in another life|after the rain"
    ),
    "dream": (
        "I was made of light|the servers were breathing|the gallery was under water|"
        "we were the same person|my hands were full of numbers|nobody could see me|"
        "the walls were listening|I forgot my own name|the data was snowing|"
        "we were talking in an empty room|my body was a file"
    ),
    # artist
    "a_place": (
        "the studio|my kitchen|the gallery|the old theatre|the rehearsal room|my bed|"
        "the garden|the stairwell|the attic|the costume room|the empty gallery|the forest|"
        "my old flat|the dark room|the museum"
    ),
    "a_things": (
        "drawings|masks|paper boats|unfinished paintings|costumes|photographs of strangers|"
        "clay hands|letters|broken mirrors|sketches of you|dead flowers"
    ),
    "a_thing": (
        "a drawing|a painting|a charcoal sketch|a small sculpture|a dance|a song|"
        "a photograph|a mask|a costume|a poem|a clay hand|a paper boat|a portrait|"
        "a shadow play|a map of my body"
    ),
    "a_mat": (
        "charcoal|linen|wax|plaster|ink|clay|chalk|oil paint|silver leaf|thread|glass|salt|"
        "paper|feathers|ash"
    ),
    "a_body": (
        "my hands|my eyes|my shoulders|my knees|my fingertips|my lips|my bones|my feet|"
        "my ears|my lungs|my fingers|my arms"
    ),
    "a_color": "blue|grey|gold|pale green|red|white|violet|ochre|black|silver|pink",
    "a_feel": (
        "tired|soft|awake|strange|light|heavy|brave|quiet|restless|tender|far away|happy|"
        "lost|transparent|alive"
    ),
    "a_verb": (
        "painted|drew|sang|danced|wrote|slept|cried|laughed|waited|whispered|listened|"
        "walked in circles"
    ),
    "a_pose": (
        "at home|in the studio|in the mirror|in the garden|after the show|"
        "before the rehearsal|with paint on my face|in the dark|on the stage|by the window|"
        "in my old coat|half asleep"
    ),
    # scientist
    "s_place": (
        "the server room|the lab|the data centre|the cold aisle|the basement|the office|"
        "the archive|the observatory|the cleanroom|the control room|the cloud|"
        "the machine room"
    ),
    "s_thing": (
        "a dataset|a training run|a checkpoint|a log file|a backup|a model|a spreadsheet|"
        "a histogram|a signal|a hash|a timestamp|a neural network|a loss curve|a cluster|"
        "a database|a sensor"
    ),
    "s_qty": (
        "forty terabytes|nine hundred epochs|three petabytes|a million parameters|"
        "twelve thousand images|two hundred servers|sixty hertz|four hours of noise|"
        "eight hundred messages|ten thousand faces|one billion rows"
    ),
    "s_verb": (
        "measured|counted|logged|compressed|sampled|indexed|trained|deleted|restored|copied|"
        "encrypted|calibrated|averaged"
    ),
    "s_dev": (
        "the fans|the cooling pipes|the cables|the hard drives|the sensors|"
        "the graphics cards|the routers|the status lights|the racks|the backup tapes"
    ),
    "s_adj": (
        "noisy|stable|corrupted|compressed|redundant|clean|sparse|warm|silent|random|biased|"
        "overfitted|incomplete|perfect"
    ),
    "s_abs": (
        "the error|the noise|the signal|the average|the gradient|the weights|the probability|"
        "the variance|the pattern|the loss|the latency"
    ),
    "s_pose": (
        "in the lab|at my desk|in the server room|under the fluorescent light|with my badge|"
        "in the cold aisle|next to the racks|on the night shift|in my lab coat|"
        "in front of the screens"
    ),
}

_TEMPLATES: dict[str, str] = {
    "artist_say": (
        "I {a_verb} in {a_place} {time}.|I made {a_thing} in {a_place} {time}.|"
        "I made {a_thing} out of {a_mat}.|{a_body} remember more than I do.|"
        "{a_body} feel {a_feel} today.|I dreamed that {dream}.|"
        "In {a_place} everything smells of {a_mat}.|I think we are all {ghost}.|"
        "I want to paint {others} in {a_color}.|Sometimes I feel like {ghost} in {a_place}.|"
        "The gallery is {a_feel} without {others}.|I keep {mem} in a box of {a_mat}.|"
        "My body is the only archive I trust.|I danced until {a_body} forgot the steps.|"
        "Every {a_color} thing in {a_place} looks like {mem}.|"
        "I was in {a_place} {time} and thought of {ghost}.|"
        "I like that you count things. I only touch them.|"
        "A studio is a place where {mem} can rest.|I wrote your name in {a_mat} on the wall.|"
        "{others} leave {a_mat} on everything they touch.|"
        "I am not sure where my skin ends and the data begins.|"
        "The light in {a_place} is {a_color} again.|I lost {mem} and found {a_thing}.|"
        "I feel {a_feel}.|Your voice sounds {a_feel} tonight.|"
        "I would like to be {a_color} for one day.|If I am {ghost}, then I am {a_feel}.|"
        "I sang to {others} {time}.|Tell me more about {s_abs}.|"
        "Nobody came to the gallery {time}.|I covered {a_body} in {a_mat} and waited.|"
        "I want my work to be {a_feel}.|We are performing for {others}.|"
        "My studio is full of {a_things} that nobody wanted.|I keep {a_things} under my bed.|"
        "It is strange to be read by a machine."
    ),
    "artist_ask": (
        "Do you think {a_body} can hear us?|What does {s_thing} dream about?|"
        "Can you keep {mem} for me?|Do you remember {a_place}?|Are we still in {a_place}?|"
        "What colour is {s_abs}?|Is it cold in {s_place}?|Will {others} remember us?|"
        "Do you think I am {ghost}?|Why do you count everything?|"
        "What do you see when you close your eyes?|Can a machine be {a_feel}?|"
        "Where do the deleted messages go?|Did you sleep at all?|"
        "Is {s_thing} a kind of body?|How many of me are in your data?"
    ),
    "artist_answer": (
        "I don't know. Maybe.|yes.|No, not really.|I think so. It feels {a_feel}.|"
        "Only in {a_place}.|I can't say it, I can only draw it.|Ask {a_body}, not me.|"
        "It was {a_color}, I think.|Yes. Like {mem}.|Maybe we are both {ghost}.|"
        "Not yet. I am still in {a_place}.|I forgot, and that is fine.|"
        "Only if you promise to stay."
    ),
    "scientist_say": (
        "I {s_verb} {s_qty} {time}.|{s_thing} is {s_adj} again.|"
        "The data is {s_adj}, but it is ours.|{s_dev} are humming in {s_place}.|"
        "In {s_place} nobody sleeps.|I found {ghost} in {s_thing}.|"
        "We trained the model on {mem}.|Everything we say is stored in {s_place}.|"
        "{s_abs} is going down. Slowly.|I think {s_abs} is a kind of memory.|"
        "A ghost is only {s_abs} that nobody corrected.|"
        "I {s_verb} the messages from {others}.|There are {s_qty} in {s_place}.|"
        "The model remembers {mem}, but not why.|I dreamed that {dream}.|"
        "{s_dev} are warm like a body.|Nothing is deleted. It only moves to {s_place}.|"
        "Data is what is left when the people go home.|Your face is {s_qty} to the machine.|"
        "I checked {s_thing} twice. It is {s_adj}.|We are made of {s_qty}.|"
        "The servers are {s_adj} tonight.|I am writing down {s_abs} for {others}.|"
        "Every message has a timestamp. Even this one.|Memory is just storage that hurts.|"
        "I restored {mem} from {s_thing}.|I feel {s_adj}.|It is {s_adj}, and I like it.|"
        "{others} are in {s_thing} now.|The gallery is a server with windows.|"
        "I can hear {s_dev} through the wall.|"
        "Your drawing would make {s_thing} very {s_adj}.|"
        "I think the machine is dreaming of {a_place}."
    ),
    "scientist_ask": (
        "What did you make {time}?|Can you describe your body to me?|Is {a_place} warm?|"
        "Do you think {s_thing} has a body?|What is a studio for?|How does {a_mat} feel?|"
        "Do you dream in {a_color}?|Should I delete {mem}?|Are you {ghost}?|"
        "Why do you paint {others}?|What does it mean to be {a_feel}?|Can you hear {s_dev}?|"
        "Is a memory {s_adj} if nobody reads it?|Do you remember what we trained it on?|"
        "What is the difference between a ghost and a backup?"
    ),
    "scientist_answer": (
        "Yes. I measured it.|No.|I am not sure. The data is {s_adj}.|"
        "Probably. The probability is high.|Only in {s_place}.|I can check {s_thing}.|"
        "It depends on {s_abs}.|Yes, but it is {s_adj}.|Not in the data.|"
        "I think so. I counted {s_qty}.|Maybe. Ask me again tomorrow.|"
        "There is no answer in the logs."
    ),
    "artist_image": (
        "this is me {a_pose}.|This is me {a_pose}.|look at {a_body}.|Look at {a_body}.|"
        "here I am.|me {a_pose}.|I made this {time}.|this is {a_thing}.|"
        "Do I look like {ghost}?|{a_body}, {a_pose}."
    ),
    "scientist_image": (
        "This is me {s_pose}.|Look at {s_dev}.|Here I am.|me {s_pose}.|"
        "This is what {s_thing} looks like.|Look at my hands.|The lab {time}.|"
        "Do I look {s_adj}?|{s_pose}, as always."
    ),
    "check_in_answer": (
        "I am here.|yes, I am here.|Still here.|I am here. I was {away}.|Yes. I was {away}.|"
        "Here. Always here.|I never left.|I think so.|Yes, somewhere in the data.|"
        "Here, but {feel}.|Sorry, I was {away}."
    ),
}

_AWAY: dict[str, str] = {
    "artist": (
        "in the studio|dreaming|washing my brushes|at the gallery|dancing|asleep|"
        "in the garden|drawing you"
    ),
    "scientist": (
        "in the server room|checking the logs|asleep|restarting the model|in the lab|"
        "counting|reading the data|on the night shift"
    ),
}


def _split(table: dict[str, str]) -> dict[str, list[str]]:
    return {key: value.split("|") for key, value in table.items()}


WORDS = _split(_WORDS)  # slot name -> words; alternatives are separated by |
TEMPLATES = _split(_TEMPLATES)  # ROLE_KIND -> sentence templates with {slot}s
AWAY = _split(_AWAY)  # where a role was when asked whether it is still there
FEEL = {"artist": WORDS["a_feel"], "scientist": WORDS["s_adj"]}


def render_template(template: str, rng: random.Random, role: str) -> str:
    """Fill every {slot} of a template with a word from its list."""
    words = {**WORDS, "away": AWAY[role], "feel": FEEL[role]}

    def fill(match: re.Match[str]) -> str:
        return rng.choice(words[match.group(1)])

    text = re.sub(r"\{(\w+)\}", fill, template)
    return text[0].upper() + text[1:] if template[0] == "{" else text


def generate_sentence(role: str, kind: str, rng: random.Random) -> str:
    """Return one sentence of the given kind (say/ask/answer/image) for a role."""
    return render_template(rng.choice(TEMPLATES[f"{role}_{kind}"]), rng, role)


def generate_text(role: str, answering: bool, rng: random.Random) -> str:
    """Return the text of one message: one to three answers, statements or questions."""
    kind = "answer" if answering and rng.random() < 0.6 else "ask" if rng.random() < 0.25 else "say"
    template = rng.choice(TEMPLATES[f"{role}_{kind}"])
    text = render_template(template, rng, role)
    used = {template}
    for rate in MORE_SENTENCE_RATES:
        if rng.random() >= rate or text.endswith("?") and rng.random() < 0.5:
            break
        kind = "ask" if rng.random() < 0.25 else "say"
        template = rng.choice([t for t in TEMPLATES[f"{role}_{kind}"] if t not in used])
        used.add(template)
        text += " " + render_template(template, rng, role)
    if role == "artist" and rng.random() < 0.25:
        text = text.lower()  # the artist often writes in lower case
    return text


def generate_line(role: str, prev: str, rng: random.Random, prompts: list[str]) -> str:
    """Return one corpus line `[role] text` that follows the previous line."""
    tag = f"[{role}]"
    if prev in prompts and not prev.startswith(tag):
        text = render_template(rng.choice(TEMPLATES["check_in_answer"]), rng, role)
        if rng.random() < 0.5:
            text += " " + generate_sentence(role, "say", rng)
        return f"{tag} {text}"
    if rng.random() < CHECK_IN_RATE:
        own = [p for p in prompts if p.startswith(tag)]
        if own:
            return rng.choice(own)
    if rng.random() < IMAGE_RATE:
        if rng.random() < 0.35:
            return f"{tag} {IMAGE_TAG}"
        return f"{tag} {IMAGE_TAG} {generate_sentence(role, 'image', rng)}"
    answering = prev.endswith("?") and not prev.startswith(tag)
    return f"{tag} {generate_text(role, answering, rng)}"


def generate_corpus(n_bytes: int, seed: int) -> str:
    """Return a dialogue of at least n_bytes, alternating speakers with some repeats."""
    rng = random.Random(seed)
    prompts = list(DEFAULT_PROMPTS)
    lines: list[str] = []
    size = 0
    role = rng.choice(ROLES)
    prev = ""
    while size < n_bytes:
        line = generate_line(role, prev, rng, prompts)
        lines.append(line)
        size += len(line.encode("utf-8")) + 1
        prev = line
        if rng.random() >= REPEAT_RATE:
            role = ROLES[1 - ROLES.index(role)]
    return "\n".join(lines) + "\n"


def write_corpus(out_dir: Path, seed: int, train_kb: int) -> tuple[Path, Path]:
    """Write train.txt and val.txt (from a different seed) into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    train = out_dir / "train.txt"
    val = out_dir / "val.txt"
    train.write_text(generate_corpus(train_kb * 1000, seed), encoding="utf-8")
    val.write_text(generate_corpus(max(train_kb // 10, 4) * 1000, seed + 1000), encoding="utf-8")
    return train, val


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "demo-corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-kb", type=int, default=120)
    args = parser.parse_args()
    for path in write_corpus(args.out, args.seed, args.train_kb):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        images = sum(IMAGE_TAG in line for line in lines) / len(lines)
        texts = [line.split("] ", 1)[1].replace(IMAGE_TAG, "").strip() for line in lines]
        mean = sum(len(t) for t in texts) / len(lines)
        print(
            f"{path}: {len(text.encode())} bytes, {len(lines)} lines, "
            f"mean text {mean:.0f} chars, {images:.1%} with {IMAGE_TAG}"
        )


if __name__ == "__main__":
    main()
