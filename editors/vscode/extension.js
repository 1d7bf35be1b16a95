// The fitlang extension: starts `fitc lsp` (the language server on stdio) for .fit files.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("fitlang");
  const command = config.get("server.command", "fitc");
  const args = [...config.get("server.extraArgs", []), "lsp"];
  const serverOptions = {
    run: { command, args, transport: TransportKind.stdio },
    debug: { command, args, transport: TransportKind.stdio },
  };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "fit" },
      { scheme: "untitled", language: "fit" },
    ],
    initializationOptions: { solveTimeLimit: config.get("solveTimeLimit", 10) },
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.fit"),
    },
  };
  client = new LanguageClient("fitlang", "fitlang (fitc lsp)", serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.commands.registerCommand("fitlang.restartServer", () => client.restart())
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
