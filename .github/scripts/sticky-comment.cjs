// The one benchctl comment on a pull request: created the first time, edited in place after,
// so a pull request carries a single current plan however often it is pushed to.
// Used from actions/github-script: `require(".../sticky-comment.cjs")({github, context, body})`.
"use strict";

const MARKER = "<!-- benchctl-plan -->";
// GitHub refuses comment bodies over 65,536 characters; keep room for the marker and the note.
const LIMIT = 60000;

function fit(body) {
  if (body.length <= LIMIT) return body;
  return (
    body.slice(0, LIMIT) +
    "\n\n…the plan is longer than a comment can hold; the workflow run's summary has all of it.\n"
  );
}

module.exports = async function stickyComment({ github, context, body, marker = MARKER }) {
  const { owner, repo } = context.repo;
  const issue_number = context.payload.pull_request.number;
  const text = `${marker}\n${fit(body)}`;
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner,
    repo,
    issue_number,
    per_page: 100,
  });
  // Only a bot's comment that starts with the marker is ours: people may quote it.
  const ours = comments.find(
    (c) => c.user && c.user.type === "Bot" && typeof c.body === "string" && c.body.startsWith(marker)
  );
  if (ours) {
    if (ours.body === text) return "unchanged";
    await github.rest.issues.updateComment({ owner, repo, comment_id: ours.id, body: text });
    return "updated";
  }
  await github.rest.issues.createComment({ owner, repo, issue_number, body: text });
  return "created";
};
