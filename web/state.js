// What the page knows between events. Python owns the conversation: `conversation` is the last one it
// sent back (or, for a chat not yet written in, just its system prompt).
export const state = {
  client: null,         // the engine worker's protocol client (client.js)
  pythonReady: false,
  modelReady: false,
  busy: false,          // a reply or summary is being written
  sending: null,        // the intent being answered ("send", "edit", ...)
  catalog: null,        // models/catalog.json
  providers: [],        // providers.json: the remote presets
  conversation: null,
  streaming: null,      // the reply streaming now: { id, item, text, reasoning, frame, updates }
  context: null,        // the last context use the engine reported
  store: null,          // saved chats (store.js)
  chats: [],            // the saved chats as last listed
  editDraft: null,      // an edit that was refused: { id, text }, kept open with its text
  afterReply: null,     // what to do once the reply in progress has stopped (an edit saved meanwhile)
  focus: null,          // the message to show once the chat is drawn (a search result)
  keys: new Map(),      // endpoint -> API key, in memory; a key is only ever shown for its own endpoint
  prefetch: null,       // the bundled model's files, downloading while Python starts
  draftAttachments: [], // files read by Python for the next question (Attached records)
  loadedModel: null,    // { model, dtype } of the local model in use
  useHub: false,        // the local model comes from a Hub id typed in
  searchTimer: 0,
  site: null,           // site.json with the link's preset applied (site.js)
  sendWhenReady: false, // Send was pressed before the model was ready
  download: null,       // { stage, at, loaded }: where the download's speed is measured from
};
