/* cli/commands.h - the subcommands of the `wattscale` program.
 * defines: one entry point per subcommand; each returns the process exit status. */
#ifndef WS_CLI_COMMANDS_H
#define WS_CLI_COMMANDS_H

int ws_cmd_measure(int argc, char **argv); /* cli/cmd_measure.c */
int ws_cmd_train(int argc, char **argv);   /* cli/cmd_train.c */
int ws_cmd_study(int argc, char **argv);   /* cli/cmd_study.c */
int ws_cmd_data(int argc, char **argv);    /* cli/cmd_data.c */
int ws_cmd_study_plan(int argc, char **argv);   /* cli/cmd_study_run.c */
int ws_cmd_study_run(int argc, char **argv);    /* cli/cmd_study_run.c */
int ws_cmd_study_status(int argc, char **argv); /* cli/cmd_study_run.c */
int ws_cmd_report(int argc, char **argv);       /* cli/cmd_report.c */
int ws_cmd_predict(int argc, char **argv);      /* cli/cmd_predict.c */
int ws_cmd_advise(int argc, char **argv);       /* cli/cmd_predict.c */
int ws_cmd_calibrate(int argc, char **argv);    /* cli/cmd_calibrate.c */

#endif
